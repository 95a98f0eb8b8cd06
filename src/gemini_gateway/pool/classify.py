"""Pure decisions about a failed upstream attempt: retry elsewhere? cool down? disable?

Google's error details drive it: ErrorInfo reasons that mean "this key is bad", RetryInfo's
retryDelay, and QuotaFailure quota ids that tell a per-minute limit from a per-day one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# Reasons Google gives when the credential itself (not the request) is at fault.
BAD_CREDENTIAL_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
        "API_KEY_EXPIRED",
        "SERVICE_DISABLED",
        "CONSUMER_SUSPENDED",
        "CONSUMER_INVALID",
        "BILLING_DISABLED",
        "ACCESS_TOKEN_EXPIRED",
        "ACCOUNT_STATE_INVALID",
        # The gateway's own, for OAuth accounts (gemini_gateway.oauth.manager): only a person can fix these.
        "REFRESH_TOKEN_REVOKED",
        "OAUTH_CLIENT_REJECTED",
        "ACCOUNT_NOT_ELIGIBLE",
        "VALIDATION_REQUIRED",  # Code Assist: the account must be verified in a browser
        # A consumer account Code Assist refuses to Gemini CLI since 2026-06-18 (oauth/tiers.py).
        "CONSUMER_TIER_UNSUPPORTED",
    }
)
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# How long an account stays marked as not entitled to a model after Code Assist refused it; a tier
# changes rarely, and an operator's re-enable clears the mark at once.
UNENTITLED_SECONDS = 6 * 3600.0
PACIFIC = ZoneInfo("America/Los_Angeles")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_RETRY_IN_TEXT = re.compile(r"retry in (\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
# Go-style durations ("13h19m1.2s", "539ms"), as Code Assist's ErrorInfo metadata quotaResetDelay has them.
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


@dataclass(frozen=True, slots=True)
class Verdict:
    retry: bool  # try the call again on another credential
    counts_as_failure: bool  # held against the credential's record
    cooldown_until: float | None = None  # wall-clock end of a cooldown for this model
    cooldown_all_models: bool = False
    disable_reason: str | None = None
    unentitled_until: float | None = None  # wall-clock end of "this credential may not use this model"
    quota_hits: tuple[tuple[str, int | None], ...] = ()  # limits a 429 named: ("rpm", 10), ...
    refund: bool = False  # the call was refused before it used any quota
    empty: bool = False  # a 200 without an answer (see gemini_gateway.empty_answers)
    note: str = ""


def parse_duration(value: object) -> float | None:
    """Proto3 JSON Duration ("56s", "1.5s") to seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1))
    return None


def parse_go_duration(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    parts = _GO_DURATION.findall(value.strip())
    if not parts or "".join(number + unit for number, unit in parts) != value.strip():
        return None
    return sum(float(number) * _GO_UNITS[unit] for number, unit in parts)


def next_pacific_midnight(now: float) -> float:
    local = datetime.fromtimestamp(now, PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()


def _details(payload: dict[str, Any], type_suffix: str) -> list[dict[str, Any]]:
    details = payload.get("details")
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith(type_suffix)]


def error_reasons(payload: dict[str, Any]) -> set[str]:
    return {str(d.get("reason")) for d in _details(payload, "google.rpc.ErrorInfo") if d.get("reason")}


def is_daily_quota(payload: dict[str, Any]) -> bool:
    for failure in _details(payload, "google.rpc.QuotaFailure"):
        for violation in failure.get("violations") or []:
            if not isinstance(violation, dict):
                continue
            quota_id = str(violation.get("quotaId", "")) + str(violation.get("quotaMetric", ""))
            if "PerDay" in quota_id or "Daily" in quota_id:
                return True
    return False


def quota_dimension(quota_id: str) -> str | None:
    """Which of the gateway's counted limits a QuotaFailure quotaId names, if any.

    "GenerateRequestsPerMinutePerProjectPerModel-FreeTier" -> rpm,
    "GenerateContentInputTokensPerModelPerMinute-FreeTier" -> tpm,
    "GenerateRequestsPerDayPerProjectPerModel-FreeTier" -> rpd.
    """
    daily = "PerDay" in quota_id or "Daily" in quota_id
    if "Token" in quota_id:
        return None if daily else "tpm"
    if "Request" in quota_id:
        return "rpd" if daily else "rpm" if "PerMinute" in quota_id else None
    return None


def quota_hits(payload: dict[str, Any]) -> tuple[tuple[str, int | None], ...]:
    """The counted limits a 429's QuotaFailure violations name, with quotaValue where given."""
    hits: list[tuple[str, int | None]] = []
    for failure in _details(payload, "google.rpc.QuotaFailure"):
        for violation in failure.get("violations") or []:
            if not isinstance(violation, dict):
                continue
            name = quota_dimension(str(violation.get("quotaId", "")))
            if name is None:
                continue
            value = str(violation.get("quotaValue", ""))
            hits.append((name, int(value) if value.isdigit() else None))
    return tuple(hits)


def retry_delay(payload: dict[str, Any]) -> float | None:
    for info in _details(payload, "google.rpc.RetryInfo"):
        seconds = parse_duration(info.get("retryDelay"))
        if seconds is not None:
            return seconds
    for info in _details(payload, "google.rpc.ErrorInfo"):
        metadata = info.get("metadata")
        seconds = parse_go_duration(metadata.get("quotaResetDelay")) if isinstance(metadata, dict) else None
        if seconds is not None:
            return seconds
    match = _RETRY_IN_TEXT.search(str(payload.get("message", "")))
    return float(match.group(1)) if match else None


def classify_error(
    status: int,
    payload: dict[str, Any],
    *,
    now: float,
    backoff_level: int,
    base_cooldown: float,
    max_cooldown: float,
    account: bool = False,
) -> Verdict:
    """Decide what an upstream error answer means for the call and for the credential.

    `account`: the credential is an OAuth account (Code Assist), whose 404 / 403 on a model call
    means this account's tier does not include the model (preview models), not that the model
    does not exist: another account may serve it (Gemini CLI and gcli2api read it so too).
    """
    reasons = error_reasons(payload)
    if status == 401 and payload.get("code") == "authentication":
        # The Interactions API (served by API keys only) answers a bad or expired key with its own
        # 401 `authentication`, without google.rpc details: the key is bad as with API_KEY_INVALID.
        reasons.add("API_KEY_INVALID")
    bad = reasons & BAD_CREDENTIAL_REASONS
    if bad and status in (400, 401, 403):
        reason = sorted(bad)[0]
        message = str(payload.get("message", ""))[:500]  # long enough for "what to do" in full
        return Verdict(retry=True, counts_as_failure=True, disable_reason=f"{reason}: {message}".strip())
    if status == 429:
        hits = quota_hits(payload)
        # The Interactions API says `quota_exceeded` for the daily quota (`rate_limit_exceeded`
        # for the per-minute ones) instead of a QuotaFailure.
        if is_daily_quota(payload) or payload.get("code") == "quota_exceeded":
            return Verdict(
                retry=True,
                counts_as_failure=True,
                cooldown_until=next_pacific_midnight(now),
                quota_hits=hits,
                refund=True,
                note="daily quota",
            )
        delay = retry_delay(payload)
        if delay is None:
            delay = min(max_cooldown, base_cooldown * (2**backoff_level))
        return Verdict(
            retry=True,
            counts_as_failure=True,
            cooldown_until=now + delay,
            quota_hits=hits,
            refund=True,
            note=f"cooldown {delay:g}s",
        )
    if account and status in (403, 404):
        return Verdict(
            retry=True,
            counts_as_failure=False,
            unentitled_until=now + UNENTITLED_SECONDS,
            refund=True,
            note="not entitled to this model",
        )
    if status == 401:
        # An API key never gets 401; for token credentials it means the token must be refreshed.
        return Verdict(retry=True, counts_as_failure=True, note="unauthenticated")
    if status in RETRYABLE_STATUSES:
        return Verdict(retry=True, counts_as_failure=True)
    # Any other 4xx is about the request (bad field, a file of another project): not the key's fault.
    return Verdict(retry=False, counts_as_failure=False)


def classify_transport(kind: str) -> Verdict:
    """Timeouts and connection errors: try elsewhere, never disable."""
    return Verdict(retry=True, counts_as_failure=True, note=kind)


def classify_refusal() -> Verdict:
    """The credential does not offer the call (method or model): try elsewhere, hold nothing against it."""
    return Verdict(retry=True, counts_as_failure=False, refund=True, note="not offered")


def classify_empty() -> Verdict:
    """A 200 without an answer: try elsewhere; a fluke of the model, not the credential's fault,
    so no cooldown, only counted (the call used its quota all the same)."""
    return Verdict(retry=True, counts_as_failure=False, empty=True, note="empty answer")


def classify_proxy(now: float, cooldown: float) -> Verdict:
    """The credential's own outbound proxy failed: try elsewhere, and rest the credential a while
    (every model: all its calls use that proxy), but hold nothing against the credential itself."""
    return Verdict(
        retry=True,
        counts_as_failure=False,
        cooldown_until=now + cooldown,
        cooldown_all_models=True,
        note="proxy unreachable",
    )
