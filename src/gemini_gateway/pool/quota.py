"""Quota per credential and model, counted by the gateway: requests and input tokens per minute
(sliding 60 s windows) and requests per day (reset at midnight Pacific time, as Google's are).

Limits come from the tier table (`quota_tiers`) for the credential's tier, overridden by limits
learned from Google's 429s (QuotaFailure says which limit and its value). The pool asks
`blocked_until` before choosing a credential, so a call bound to be refused is never sent, and
`charge`s each call it places; the dispatcher corrects a charge's token estimate from the answer's
usage, or refunds it when Google refused the call (a refused call uses no quota).

Everything here takes `now` from the pool's clock and never awaits: atomic under asyncio.

Replicas (issue 20): with a shared counter (`QuotaBook.shared`, Redis), the dispatcher also
places each charge there before the call goes out (`SharedQuota.place`, one atomic script), so a
limit of N a minute lets N through across all replicas; one the shared counter refuses is held
back here (`Usage.shared_until`) until it clears. The local window stays a sound first filter (this
replica's calls are a part of all of them). Without the shared counter (Redis unreachable) each
replica counts alone, its limits divided by `divisor`, the replicas last seen.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from gemini_gateway.pool.classify import next_pacific_midnight
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.quota_tiers import DEFAULT_TIERS, DIMENSIONS, TierTable, tier_limits

WINDOW = 60.0  # seconds of the per-minute windows
MAX_TRACKED = 20_000  # (credential, model) pairs kept before idle ones are forgotten
# Calls that count against a model's generation quota (countTokens, files, models.* do not).
COUNTED_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents"}
)


@dataclass(slots=True)
class Charge:
    """One call counted against a credential x model; `entry` is its [time, tokens] in the window."""

    credential_id: str
    model: str
    entry: list[float]
    day_ends: float
    shared: int | None = None  # the shared counter's bucket (a second) once placed there
    shared_tokens: int = 0  # the tokens the shared counter holds for it


class SharedQuota(Protocol):
    """Usage counted across replicas (gemini_gateway.shared.redis_state.RedisState)."""

    async def place(self, charge: Charge, limits: dict[str, int], tokens: int) -> float | None:
        """Count the call if it fits `limits` across all replicas: 0.0 when counted (and
        `charge.shared` set), the seconds until it would fit when not, None when no shared counter
        answers (the caller counts locally)."""

    def adjust(self, charge: Charge, calls: int, tokens: int) -> None:
        """Correct a placed charge by `calls` and `tokens` (queued: never waits)."""

    def learned(self, credential_id: str, model: str, limits: dict[str, int]) -> None:
        """Tell every replica of limits a 429 taught this one (queued: never waits)."""


@dataclass(slots=True)
class Usage:
    minute: deque[list[float]] = field(default_factory=deque)  # [time, input tokens], oldest first
    day_count: int = 0
    day_ends: float = 0.0
    learned: dict[str, int] = field(default_factory=dict)
    shared_until: float = 0.0  # the shared counter refused a call until then (another replica's use)

    def roll(self, now: float) -> None:
        while self.minute and self.minute[0][0] <= now - WINDOW:
            self.minute.popleft()
        if now >= self.day_ends:
            self.day_count, self.day_ends = 0, next_pacific_midnight(now)
        if self.shared_until and self.shared_until <= now:
            self.shared_until = 0.0

    def idle(self) -> bool:
        return not self.minute and not self.day_count and not self.learned and not self.shared_until


class QuotaBook:
    """Usage and limits of every credential x model the pool has placed calls on."""

    def __init__(self, table: TierTable | None = None) -> None:
        self.table: TierTable = table if table is not None else DEFAULT_TIERS
        self.kind_tiers: dict[str, str] = {}  # credential kind -> its default tier ("api_key": "free")
        self.credential_tiers: dict[str, str] = {}  # credential id -> tier, over its kind's
        self._usage: dict[tuple[str, str], Usage] = {}
        self._learned_any = False  # a limit was learned (or adopted) once: see `may_limit`
        self.shared: SharedQuota | None = None  # set by gemini_gateway.shared when REDIS_URL is
        # Replicas counting alone (their shared counter unreachable) each take this share of a limit.
        self.divisor = 1

    def tier_of(self, credential: Credential) -> str | None:
        return self.credential_tiers.get(credential.id) or self.kind_tiers.get(credential.kind)

    def may_limit(self) -> bool:
        """False while no credential can be held back by a limit: no tier is set and none was
        learned from a 429. The pool then skips `blocked_until` for every credential of a pick."""
        return self._learned_any or bool(self.kind_tiers) or bool(self.credential_tiers)

    def limits(self, credential: Credential, model: str) -> tuple[dict[str, int], dict[str, str]]:
        """The limits that hold for `credential` x `model`, and where each came from."""
        return self._limits(self.tier_of(credential), model, self._usage.get((credential.id, model)))

    def _limits(
        self, tier: str | None, model: str, usage: Usage | None
    ) -> tuple[dict[str, int], dict[str, str]]:
        limits: dict[str, int] = {
            k: v for k, v in tier_limits(self.table, tier, model).items() if v is not None
        }
        sources = {k: f"tier:{tier}" for k in limits}
        if usage is not None:
            for name, value in usage.learned.items():
                limits[name], sources[name] = value, "learned"
        if self.divisor > 1:
            limits = {k: max(1, v // self.divisor) if v else v for k, v in limits.items()}
        return limits, sources

    def _usage_of(self, credential_id: str, model: str, now: float) -> Usage:
        usage = self._usage.get((credential_id, model))
        if usage is None:
            if len(self._usage) >= MAX_TRACKED:
                self._forget_idle(now)
            usage = self._usage[(credential_id, model)] = Usage()
        usage.roll(now)
        return usage

    def _forget_idle(self, now: float) -> None:
        for key, usage in list(self._usage.items()):
            usage.roll(now)
            if usage.idle():
                del self._usage[key]

    def blocked_until(
        self, credential: Credential, model: str | None, tokens: int, now: float
    ) -> float | None:
        """None if a call of `tokens` input tokens fits every known limit now; else when it will."""
        if model is None:
            return None
        tier = self.tier_of(credential)
        known = self._usage.get((credential.id, model))
        if tier is None and (known is None or not known.learned):
            return None  # without a tier only a limit learned from a 429 can hold
        limits, _ = self._limits(tier, model, known)
        if not limits:
            return None
        usage = self._usage_of(credential.id, model, now)
        waits: list[float] = []
        if usage.shared_until > now:
            waits.append(usage.shared_until)
        rpd = limits.get("rpd")
        if rpd is not None and usage.day_count + 1 > rpd:
            waits.append(usage.day_ends)
        rpm = limits.get("rpm")
        if rpm is not None and len(usage.minute) + 1 > rpm:
            # the call fits once all but rpm - 1 of the calls in the window have left it
            waits.append(usage.minute[len(usage.minute) - rpm][0] + WINDOW if rpm > 0 else now + WINDOW)
        tpm = limits.get("tpm")
        if tpm is not None and usage.minute:
            wait = _tokens_fit(usage.minute, tokens, tpm)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None

    def charge(self, credential: Credential, model: str, tokens: int, now: float) -> Charge:
        usage = self._usage_of(credential.id, model, now)
        entry = [now, float(tokens)]
        usage.minute.append(entry)
        usage.day_count += 1
        return Charge(credential.id, model, entry, usage.day_ends)

    def correct(self, charge: Charge, tokens: int) -> None:
        """Replace the estimate with the input tokens Google counted (usageMetadata)."""
        charge.entry[1] = float(tokens)
        if charge.shared is not None and self.shared is not None and tokens != charge.shared_tokens:
            self.shared.adjust(charge, 0, tokens - charge.shared_tokens)
            charge.shared_tokens = tokens

    def hold_back(self, charge: Charge, until: float) -> None:
        """The shared counter refused the call: take it back here and pass its credential over
        for its model until `until`."""
        self.refund(charge)
        usage = self._usage.get((charge.credential_id, charge.model))
        if usage is not None:
            usage.shared_until = max(usage.shared_until, until)

    def refund(self, charge: Charge) -> None:
        """Take back a call Google refused (429): it used no quota."""
        if charge.shared is not None and self.shared is not None:
            self.shared.adjust(charge, -1, -charge.shared_tokens)
        charge.shared = None
        usage = self._usage.get((charge.credential_id, charge.model))
        if usage is None:
            return
        with contextlib.suppress(ValueError):  # unless it has left the window already
            usage.minute.remove(charge.entry)
        if usage.day_ends == charge.day_ends and usage.day_count:
            usage.day_count -= 1

    def learn(
        self, credential: Credential, model: str | None, hits: tuple[tuple[str, int | None], ...]
    ) -> None:
        """Limits Google named in a 429's QuotaFailure; a hit without a value teaches the count
        the window held when it came (the limit cannot be higher)."""
        if model is None:
            return
        usage = self._usage.get((credential.id, model))
        if usage is None:
            usage = self._usage[(credential.id, model)] = Usage()
        taught: dict[str, int] = {}
        for name, value in hits:
            if value is None:
                used = _used(usage, name)
                if used <= 0:
                    continue
                value = used
            usage.learned[name] = taught[name] = value
            self._learned_any = True
        if taught and self.shared is not None:
            self.shared.learned(credential.id, model, taught)

    def adopt(self, credential_id: str, model: str, limits: dict[str, int]) -> None:
        """Limits another replica learned from a 429 (never told on: no echo)."""
        usage = self._usage.get((credential_id, model))
        if usage is None:
            usage = self._usage[(credential_id, model)] = Usage()
        usage.learned.update({name: int(v) for name, v in limits.items() if name in DIMENSIONS})
        self._learned_any = self._learned_any or bool(usage.learned)

    def learned_limits(self) -> list[tuple[str, str, dict[str, int]]]:
        """(credential id, model, limits) of everything learned, for a replica that resynchronises."""
        return [(cid, model, dict(u.learned)) for (cid, model), u in self._usage.items() if u.learned]

    def forget(self, credential_id: str) -> None:
        for key in [k for k in self._usage if k[0] == credential_id]:
            del self._usage[key]

    def samples(
        self, credentials: Mapping[str, Credential], now: float
    ) -> list[tuple[Credential, str, str, int, int | None]]:
        """(credential, model, dimension, used, limit) of every counted credential x model with
        usage or a limit, for /metrics (one pass over the counters, however many credentials)."""
        found: list[tuple[Credential, str, str, int, int | None]] = []
        for (credential_id, model), usage in list(self._usage.items()):
            credential = credentials.get(credential_id)
            if credential is None:
                continue
            usage.roll(now)
            limits, _ = self.limits(credential, model)
            for name in DIMENSIONS:
                used, limit = _used(usage, name), limits.get(name)
                if used or limit is not None:
                    found.append((credential, model, name, used, limit))
        return found

    def view(self, credential: Credential, now: float) -> dict[str, Any]:
        """Per model: used / limit / when it resets, for each dimension with usage or a limit."""
        shown: dict[str, Any] = {}
        for (credential_id, model), usage in self._usage.items():
            if credential_id != credential.id:
                continue
            usage.roll(now)
            limits, sources = self.limits(credential, model)
            minute_reset = usage.minute[0][0] + WINDOW if usage.minute else None
            resets: dict[str, float | None] = {
                "rpm": minute_reset,
                "tpm": minute_reset,
                "rpd": usage.day_ends,
            }
            shown[model] = {
                name: {
                    "used": _used(usage, name),
                    "limit": limits.get(name),
                    "source": sources.get(name),
                    "resets_at": resets[name],
                    "resets_in": _seconds_until(resets[name], now),
                }
                for name in DIMENSIONS
            }
        return shown


def _seconds_until(when: float | None, now: float) -> float | None:
    return None if when is None else round(when - now, 1)


def _used(usage: Usage, name: str) -> int:
    if name == "rpd":
        return usage.day_count
    if name == "rpm":
        return len(usage.minute)
    return int(sum(entry[1] for entry in usage.minute))


def _tokens_fit(minute: deque[list[float]], tokens: int, limit: int) -> float | None:
    """None if `tokens` more fit under `limit` now; else when enough of the window has left.

    A call larger than the whole limit waits only for an empty window: Google, not the gateway,
    gets to refuse it.
    """
    total = sum(entry[1] for entry in minute)
    if total + tokens <= limit:
        return None
    for entry in minute:
        total -= entry[1]
        if total + tokens <= limit or total <= 0:
            return entry[0] + WINDOW
    return minute[-1][0] + WINDOW


_PROMPT_TOKENS = re.compile(rb'"promptTokenCount"\s*:\s*(\d+)')


def estimated_tokens(method: str, body: bytes) -> int | None:
    """Input tokens a call will likely count, from its size (about 4 bytes a token), or None when
    the call does not count against a model's generation quota."""
    return len(body) // 4 if method in COUNTED_METHODS else None


def input_tokens(payload: bytes) -> int | None:
    """The input tokens Google counted, from an answer's (or a stream event's) usageMetadata."""
    # The last count is the one that holds (a stream's final event); searched from the end, so
    # the pattern runs once instead of over the whole answer.
    at = payload.rfind(b'"promptTokenCount"')
    if at < 0:
        return None
    last = _PROMPT_TOKENS.match(payload, at)
    if last is not None:
        return int(last.group(1))
    found = _PROMPT_TOKENS.findall(payload, 0, at)
    return int(found[-1]) if found else None
