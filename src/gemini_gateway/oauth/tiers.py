"""An account's Code Assist tiers, as `loadCodeAssist` tells them, and the 2026-06-18 cut-off.

`loadCodeAssist` answers with `currentTier` (the tier the account is onboarded to), `paidTier` (a
Google One subscription on top: Google AI Pro / Ultra), `allowedTiers[]` and `ineligibleTiers[]`
(each with a `reasonCode` and Google's `reasonMessage`). Since 2026-06-18 Code Assist refuses Gemini
CLI clients for consumer accounts (Code Assist for individuals, Google AI Pro, Google AI Ultra):
`ineligibleTiers` then holds `reasonCode: UNSUPPORTED_CLIENT` ("This client is no longer supported
for Gemini Code Assist for individuals. To continue using Gemini, please migrate to the Antigravity
suite of products", as gemini-cli 0.50+ shows it), and model calls of an account set up before the
cut-off are refused with a 403. Standard and Enterprise (Workspace, Cloud project) accounts still
work, and so do consumer accounts signed in as Antigravity (docs/antigravity.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNSUPPORTED_CLIENT = "UNSUPPORTED_CLIENT"
# The gateway's own ErrorInfo reason for an account refused on those grounds (pool/classify.py).
CONSUMER_TIER_UNSUPPORTED = "CONSUMER_TIER_UNSUPPORTED"
# Consumer tiers, as Code Assist names them (gcli2api and gemini-cli issues): the free tier and the
# Google One AI subscriptions. Standard / Enterprise ids (standard-tier, enterprise-tier, ...) are not.
CONSUMER_TIERS = frozenset({"free-tier", "g1-pro-tier", "g1-ultra-tier"})
TIER_NAMES = {
    "free-tier": "Gemini Code Assist for individuals",
    "g1-pro-tier": "Google AI Pro",
    "g1-ultra-tier": "Google AI Ultra",
    "standard-tier": "Gemini Code Assist Standard",
    "enterprise-tier": "Gemini Code Assist Enterprise",
}


class AccountNotEligible(Exception):
    """The account cannot use Code Assist until a person acts; the message says what to do."""


class ConsumerTierRefused(AccountNotEligible):
    """A consumer account that Code Assist no longer serves to this client (UNSUPPORTED_CLIENT)."""

    def __init__(self, message: str, tiers: TierReport) -> None:
        super().__init__(message)
        self.tiers = tiers


@dataclass(frozen=True, slots=True)
class TierReport:
    """What `loadCodeAssist` said about the account's tiers (ids and names only, no notices)."""

    current: str | None = None
    paid: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()
    ineligible: tuple[tuple[str, str, str], ...] = ()  # (tier id, reason code, Google's message)

    @property
    def effective(self) -> str | None:
        """The tier that decides what the account gets: the subscription, else the onboarded one."""
        return self.paid or self.current

    @property
    def name(self) -> str | None:
        tier = self.shown
        return None if tier is None else self.names.get(tier) or TIER_NAMES.get(tier) or tier

    @property
    def consumer(self) -> bool:
        return self.effective in CONSUMER_TIERS if self.effective else self.refusal() is not None

    @property
    def shown(self) -> str | None:
        """The tier to name: the effective one, else the one Code Assist refused."""
        refused = self.refusal()
        return self.effective or (refused[0] if refused and refused[0] else None)

    def refusal(self) -> tuple[str, str] | None:
        """(tier id, Google's message) when Code Assist refuses this client for a consumer tier."""
        for tier, code, message in self.ineligible:
            if code == UNSUPPORTED_CLIENT:
                return tier, message
        return None

    def view(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "paid": self.paid,
            "name": self.name,
            "consumer": self.consumer,
            "allowed": list(self.allowed),
            "ineligible": [{"tier": t, "reason": c, "message": m} for t, c, m in self.ineligible],
        }


def read_tiers(loaded: dict[str, Any]) -> TierReport:
    names: dict[str, str] = {}

    def tier_id(value: object) -> str | None:
        if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
            return None
        if isinstance(value.get("name"), str) and value["name"]:
            names[value["id"]] = value["name"]
        return str(value["id"])

    allowed = [t for t in map(tier_id, _list(loaded.get("allowedTiers"))) if t]
    ineligible = []
    for entry in _list(loaded.get("ineligibleTiers")):
        if not isinstance(entry, dict):
            continue
        tier = str(entry.get("tierId") or "")
        if tier and isinstance(entry.get("tierName"), str):
            names.setdefault(tier, entry["tierName"])
        ineligible.append(
            (tier, str(entry.get("reasonCode") or "UNKNOWN"), str(entry.get("reasonMessage") or "")[:300])
        )
    return TierReport(
        current=tier_id(loaded.get("currentTier")),
        paid=tier_id(loaded.get("paidTier")),
        names=names,
        allowed=tuple(allowed),
        ineligible=tuple(ineligible),
    )


def refusal_message(report: TierReport, refused_tier: str, google_says: str) -> str:
    """Why the account is disabled and what to do, for the operator."""
    tier = report.effective or refused_tier or "free-tier"
    name = report.names.get(tier) or TIER_NAMES.get(tier) or tier
    said = f' Google says: "{google_says}"' if google_says else ""
    return (
        f"a {name} ({tier}) account, which Code Assist no longer serves to Gemini CLI clients "
        "(since 2026-06-18). Use a Code Assist Standard or Enterprise account (with its project_id), "
        f"or sign this account in as Antigravity: `gemini-gateway creds login --antigravity`.{said}"
    )


def tier_name(tier: str | None) -> str | None:
    """A known tier's name for people (when loadCodeAssist has not been asked since the start)."""
    return None if tier is None else TIER_NAMES.get(tier, tier)


def is_unsupported_client(payload: dict[str, Any]) -> bool:
    """Whether a Code Assist error (the `error` object) is the consumer cut-off's refusal."""
    details = payload.get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("reason") == UNSUPPORTED_CLIENT:
            return True
    return "no longer supported for Gemini Code Assist" in str(payload.get("message", ""))


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []
