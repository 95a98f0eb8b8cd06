"""Per-profile token budgets per model, so a profile is rotated out before Google refuses it.

AIstudioProxyAPI's proactive rotation: each account counts the tokens it has spent today, per
model; past a soft limit it gives way to an account still under its own soft limit, and at the
hard limit it stops until the quota resets. Its defaults, 650,000 and 800,000 tokens, apply to
every model; a model of its own may have another hard limit (the soft one keeps the same ratio).
Google's free daily quotas reset at midnight Pacific time, and so does this ledger.

Pure bookkeeping (no I/O but `load` / `dump` of a plain dict): the service saves it next to the
pool state, so a restart does not forget what was spent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
SOFT_LIMIT = 650_000
HARD_LIMIT = 800_000


def day_key(now: float) -> str:
    """The quota day `now` (a Unix time) falls in: Google's quotas reset at midnight Pacific."""
    return dt.datetime.fromtimestamp(now, PACIFIC).date().isoformat()


def seconds_to_reset(now: float) -> float:
    local = dt.datetime.fromtimestamp(now, PACIFIC)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), PACIFIC)
    return max(1.0, midnight.timestamp() - now)


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    soft: int = SOFT_LIMIT  # 0: no limits at all
    hard: int = HARD_LIMIT
    per_model: dict[str, int] = field(default_factory=dict)  # model -> its own hard limit

    def for_model(self, model: str) -> tuple[int, int]:
        """(soft, hard) for `model`; (0, 0) when nothing is limited."""
        hard = self.per_model.get(model.lower(), self.hard)
        if not self.soft or not hard:
            return 0, 0
        if model.lower() in self.per_model and self.hard:
            return int(hard * self.soft / self.hard), hard
        return min(self.soft, hard), hard


@dataclass(slots=True)
class Verdict:
    level: str  # "ok", "soft" (past the soft limit) or "hard" (at the hard limit)
    used: int
    soft: int
    hard: int


class UsageLedger:
    """Tokens spent today by each profile on each model."""

    def __init__(self, limits: QuotaLimits) -> None:
        self.limits = limits
        self.day = ""
        self.used: dict[str, dict[str, int]] = {}

    def _roll(self, now: float) -> None:
        today = day_key(now)
        if today != self.day:
            self.day, self.used = today, {}

    def add(self, profile: str, model: str, tokens: int, now: float) -> int:
        self._roll(now)
        spent = self.used.setdefault(profile, {})
        spent[model] = spent.get(model, 0) + max(0, tokens)
        return spent[model]

    def verdict(self, profile: str, model: str, now: float) -> Verdict:
        self._roll(now)
        soft, hard = self.limits.for_model(model)
        used = self.used.get(profile, {}).get(model, 0)
        if hard and used >= hard:
            level = "hard"
        elif soft and used >= soft:
            level = "soft"
        else:
            level = "ok"
        return Verdict(level, used, soft, hard)

    def view(self, profile: str, now: float) -> dict[str, Any]:
        self._roll(now)
        return {
            model: {"used": used, "soft": soft, "hard": hard}
            for model, used in sorted(self.used.get(profile, {}).items())
            for soft, hard in [self.limits.for_model(model)]
        }

    def dump(self) -> dict[str, Any]:
        return {"day": self.day, "used": self.used}

    def load(self, data: Any, now: float) -> None:
        """A saved ledger; ignored when it is from another quota day or not what `dump` wrote."""
        if not isinstance(data, dict) or data.get("day") != day_key(now):
            return
        used = data.get("used")
        if not isinstance(used, dict):
            return
        self.day = data["day"]
        self.used = {
            str(profile): {str(m): int(n) for m, n in models.items() if isinstance(n, int)}
            for profile, models in used.items()
            if isinstance(models, dict)
        }


def tokens_of(events: list[dict[str, Any]], prompt: str) -> int:
    """Tokens a call spent: the page's last usage total, else an estimate (4 characters a token)."""
    for event in reversed(events):
        usage = event.get("usageMetadata")
        if isinstance(usage, dict) and isinstance(usage.get("totalTokenCount"), int):
            return int(usage["totalTokenCount"])
    text = sum(
        len(part.get("text") or "")
        for event in events
        for candidate in event.get("candidates", ())
        for part in candidate.get("content", {}).get("parts", ())
    )
    return (len(prompt) + text) // 4 + 1
