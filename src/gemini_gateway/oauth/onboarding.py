"""Which Code Assist project an account uses, found (and set up) the way Gemini CLI does.

1. `loadCodeAssist` with the explicit project, if any. An account with a `currentTier` is set up:
   its project is the explicit one, else the one the answer names.
2. Otherwise pick the default allowed tier (else `legacy-tier`) and call `onboardUser`: without a
   project for the free tier (Google provisions one), with the explicit project for the others.
3. Poll the long-running operation until `done`; its `cloudaicompanionProject.id` is the project.

Failures: an account that needs a person (browser verification, an ineligible account, a tier that
needs a project nobody gave) raises `AccountNotEligible`, which disables it with that reason; a
consumer account Code Assist refuses to this client since 2026-06-18 raises `ConsumerTierRefused`
(oauth/tiers.py). HTTP errors pass through as `UpstreamError` (a 429 here cools the account down).

The same calls serve Gemini CLI and Antigravity accounts; only the client metadata differs
(`ideType`), which is what Code Assist decides the UNSUPPORTED_CLIENT refusal by.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_gateway.errors import RequestError, UpstreamUnreachable
from gemini_gateway.oauth.tiers import (
    AccountNotEligible,
    ConsumerTierRefused,
    TierReport,
    read_tiers,
    refusal_message,
)
from gemini_gateway.resource_names import resource_path
from gemini_gateway.transport.base import Transport, raise_for_status

__all__ = ["AccountNotEligible", "CodeAssistEndpoint", "ConsumerTierRefused", "Setup", "discover_project"]
FREE_TIER = "free-tier"
LEGACY_TIER = {"id": "legacy-tier", "userDefinedCloudaicompanionProject": True}
GEMINI_CLI_IDE = "IDE_UNSPECIFIED"  # what gemini-cli's setup.ts sends


@dataclass(frozen=True, slots=True)
class CodeAssistEndpoint:
    """Where Code Assist is and how to reach it: shared by the backend and the setup."""

    transport: Transport
    base_url: str
    user_agent: str
    ide_type: str = GEMINI_CLI_IDE
    extra_headers: tuple[tuple[str, str], ...] = ()  # what the client adds to every call

    def headers(self, access_token: str) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {access_token}",
            "content-type": "application/json",
            "user-agent": self.user_agent,
        }
        headers.update(self.extra_headers)
        return headers

    async def call(self, access_token: str, rpc: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST `{base}:{rpc}` (or GET `{base}/{rpc}` for an operation name) and return the JSON answer."""
        url = f"{self.base_url}:{rpc}" if body is not None else f"{self.base_url}/{rpc}"
        method, data = ("POST", orjson.dumps(body)) if body is not None else ("GET", b"")
        reply = raise_for_status(await self.transport.request(method, url, self.headers(access_token), data))
        try:
            data = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            raise UpstreamUnreachable(f"Code Assist answered {rpc} with something that is not JSON") from None
        return data if isinstance(data, dict) else {}


@dataclass(frozen=True, slots=True)
class Setup:
    project: str
    tier: str | None
    tiers: TierReport = field(default_factory=TierReport)


def client_metadata(project: str | None, ide_type: str = GEMINI_CLI_IDE) -> dict[str, str]:
    metadata = {"ideType": ide_type, "platform": "PLATFORM_UNSPECIFIED", "pluginType": "GEMINI"}
    if project:
        metadata["duetProject"] = project
    return metadata


async def discover_project(
    endpoint: CodeAssistEndpoint,
    access_token: str,
    explicit_project: str | None,
    *,
    poll_seconds: float,
    max_wait: float,
) -> Setup:
    metadata = client_metadata(explicit_project, endpoint.ide_type)
    request: dict[str, Any] = {"metadata": metadata}
    if explicit_project:
        request["cloudaicompanionProject"] = explicit_project
    loaded = await endpoint.call(access_token, "loadCodeAssist", request)
    tiers = read_tiers(loaded)
    refused = tiers.refusal()
    if refused is not None:
        raise ConsumerTierRefused(refusal_message(tiers, *refused), tiers)
    current = _tier(loaded.get("currentTier"))
    if current is not None:
        project = explicit_project or _text(loaded.get("cloudaicompanionProject"))
        if not project:
            raise AccountNotEligible(_ineligible(loaded) or "the account has no Code Assist project: set one")
        return Setup(project, tiers.effective, tiers)
    validation = _validation_needed(loaded)
    if validation:
        raise AccountNotEligible(validation)
    tier = next((t for t in _tiers(loaded.get("allowedTiers")) if t.get("isDefault")), LEGACY_TIER)
    tier_id = _text(tier.get("id")) or "legacy-tier"
    onboard: dict[str, Any] = {"tierId": tier_id, "metadata": metadata}
    if tier_id != FREE_TIER:
        if not explicit_project and tier.get("userDefinedCloudaicompanionProject"):
            reasons = _ineligible(loaded)
            raise AccountNotEligible(
                f"the account's tier ({tier_id}) needs a Google Cloud project: set project_id for it"
                + (f" ({reasons})" if reasons else "")
            )
        onboard["cloudaicompanionProject"] = explicit_project
    operation = await endpoint.call(access_token, "onboardUser", onboard)
    deadline = time.monotonic() + max_wait
    while not operation.get("done"):
        name = _text(operation.get("name"))
        if name is None:
            raise UpstreamUnreachable("Code Assist onboarding returned an operation without a name")
        if time.monotonic() + poll_seconds > deadline:
            raise UpstreamUnreachable(f"onboarding the account took more than {max_wait:g}s", status_code=504)
        try:
            path = resource_path(name)  # Google's name, still never pasted raw into a URL
        except RequestError:
            raise UpstreamUnreachable("Code Assist onboarding returned an unusable operation name") from None
        await asyncio.sleep(poll_seconds)
        operation = await endpoint.call(access_token, path)
    if isinstance(operation.get("error"), dict):
        message = str(operation["error"].get("message", "onboarding failed"))[:200]
        raise AccountNotEligible(f"onboarding failed: {message}")
    response = operation.get("response") if isinstance(operation.get("response"), dict) else {}
    found = response.get("cloudaicompanionProject") if isinstance(response, dict) else None
    project = explicit_project or (_text(found.get("id")) if isinstance(found, dict) else None)
    if not project:
        raise AccountNotEligible("onboarding finished without a project: set project_id for the account")
    return Setup(project, tiers.paid or tier_id, dataclasses.replace(tiers, current=tier_id))


def _tier(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and value.get("id") else None


def _tiers(value: object) -> list[dict[str, Any]]:
    return [t for t in value if isinstance(t, dict)] if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _ineligible(loaded: dict[str, Any]) -> str:
    reasons = [
        f"{t.get('reasonCode', 'UNKNOWN')}: {t.get('reasonMessage', '')}".strip(": ")
        for t in _tiers(loaded.get("ineligibleTiers"))
    ]
    return "; ".join(reasons)[:300]


def _validation_needed(loaded: dict[str, Any]) -> str | None:
    for tier in _tiers(loaded.get("ineligibleTiers")):
        if tier.get("reasonCode") == "VALIDATION_REQUIRED":
            url = tier.get("validationUrl") or "the link Gemini CLI shows"
            return f"Google asks to verify this account in a browser first: {url}"
    return None
