"""What the fake Code Assist service does differently for Antigravity clients and consumer accounts.

Antigravity clients are told apart as Code Assist does it: by the client metadata of
`loadCodeAssist` (`ideType: "ANTIGRAVITY"`) and by the envelope of model calls (`userAgent:
"antigravity"`, `requestType: "agent"`, `requestId`, and `request.sessionId`). They get

- `POST /v1internal:fetchAvailableModels {"project"}`: the models the account may use with the
  remaining fraction of each model's quota and its reset time (a fraction of 0 is left out, as
  proto3 JSON leaves out zeros);
- a per-account, per-model request quota (`FakeAccount.quota_left`): a call on a spent model answers
  429 RESOURCE_EXHAUSTED with ErrorInfo QUOTA_EXHAUSTED (`quotaResetDelay`, `quotaResetTimeStamp`)
  and RetryInfo, as Code Assist does.

With `oauth.consumer_cutoff` on (Google's 2026-06-18 change), consumer accounts (free, Google AI
Pro, Ultra) are refused to every other client: `loadCodeAssist` lists `ineligibleTiers` with
`reasonCode: UNSUPPORTED_CLIENT` and Google's message, and model calls answer 403. The load answer
follows gemini-cli's IneligibleTierError seen since 0.50 (issue reports quote its reasonCode,
tierId, tierName and message); the 403 body of model calls is a faithful guess (no public report
quotes it in full): PERMISSION_DENIED with the same message and ErrorInfo reason UNSUPPORTED_CLIENT.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument
from gemini_gateway.fake_upstream.oauth import FakeAccount, FakeOAuth

ANTIGRAVITY_IDE = "ANTIGRAVITY"
CONSUMER_TIERS = frozenset({"free-tier", "g1-pro-tier", "g1-ultra-tier"})
PAID_TIER_NAMES = {
    "g1-pro-tier": "Gemini Code Assist in Google One AI Pro",
    "g1-ultra-tier": "Google AI Ultra",
}
UNSUPPORTED_MESSAGE = (
    "This client is no longer supported for Gemini Code Assist for individuals. To continue using "
    "Gemini, please migrate to the Antigravity suite of products: https://antigravity.google"
)
DOMAIN = "cloudcode-pa.googleapis.com"


def refused(oauth: FakeOAuth, account: FakeAccount, antigravity: bool) -> bool:
    """Whether Code Assist refuses this account to this client since the consumer cut-off."""
    return oauth.consumer_cutoff and not antigravity and account.tier in CONSUMER_TIERS


def refused_load(account: FakeAccount, tiers: list[Json]) -> Json:
    """loadCodeAssist's answer to a refused consumer account: ineligible, no project."""
    answer: Json = {
        "allowedTiers": [t for t in tiers if t["id"] != "free-tier"],
        "ineligibleTiers": [
            {
                "reasonCode": "UNSUPPORTED_CLIENT",
                "reasonMessage": UNSUPPORTED_MESSAGE,
                "tierId": "free-tier",
                "tierName": "Gemini Code Assist for individuals",
            }
        ],
    }
    if account.onboarded:
        answer["currentTier"] = {"id": "free-tier", "name": "Gemini Code Assist for individuals"}
    if account.tier in PAID_TIER_NAMES:
        answer["paidTier"] = {"id": account.tier, "name": PAID_TIER_NAMES[account.tier]}
    return answer


def refused_call() -> FakeApiError:
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "UNSUPPORTED_CLIENT",
        "domain": DOMAIN,
        "metadata": {"tierId": "free-tier"},
    }
    return FakeApiError(403, UNSUPPORTED_MESSAGE, details=[detail])


def antigravity_envelope(envelope: Json) -> bool:
    """Whether a model call is Antigravity's; a half-made Antigravity envelope is refused."""
    if envelope.get("userAgent") != "antigravity":
        return False
    if envelope.get("requestType") != "agent":
        raise invalid_argument("requestType must be agent for this client", "request_type")
    if not str(envelope.get("requestId") or "").startswith("agent-"):
        raise invalid_argument("requestId is required", "request_id")
    request = envelope.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("sessionId"), str):
        raise invalid_argument("request.sessionId is required", "request.session_id")
    return True


def spend(oauth: FakeOAuth, account: FakeAccount, model: str) -> None:
    """Count one Antigravity call against the account's quota for `model`; 429 when none is left."""
    left = account.quota_left.get(model)
    if left is None:
        return
    if left <= 0:
        raise quota_exhausted(oauth, model)
    account.quota_left[model] = left - 1


def quota_exhausted(oauth: FakeOAuth, model: str) -> FakeApiError:
    delay = max(1.0, oauth.quota_reset - time.time())
    reset = _rfc3339(oauth.quota_reset)
    return FakeApiError(
        429,
        f"You have exhausted your capacity on this model. Your quota will reset after {delay:.0f}s.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUOTA_EXHAUSTED",
                "domain": DOMAIN,
                "metadata": {
                    "model": model,
                    "quotaResetDelay": f"{delay:.0f}s",
                    "quotaResetTimeStamp": reset,
                },
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:.0f}s"},
        ],
    )


def available_models(oauth: FakeOAuth, account: FakeAccount, request: Json) -> Json:
    if request.get("project") not in {account.project, *account.user_projects}:
        raise invalid_argument("project is required", "project")
    models: dict[str, Any] = {}
    for model in oauth.antigravity_models:
        left = account.quota_left.get(model)
        quota: Json = {"resetTime": _rfc3339(oauth.quota_reset)}
        fraction = 1.0 if left is None else left / max(1, oauth.quota_limit)
        if fraction > 0:  # proto3 JSON drops a zero
            quota["remainingFraction"] = round(fraction, 4)
        models[model] = {"displayName": model.replace("-", " ").title(), "quotaInfo": quota}
    return {"models": models}


def _rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
