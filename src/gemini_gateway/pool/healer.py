"""Self-healing: credentials the pool disabled for their health are re-checked on a schedule.

Only health-disabled credentials (`disabled_reason` set by an upstream answer, `enabled` still
True) are checked; one an operator turned off stays off. Each is checked with a cheap call the
caller supplies (models.list for a key); the wait before the next check grows per failed check
and depends on the reason: a suspended consumer or a disabled service often comes back within
hours, an invalid or expired key rarely does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool

log = logging.getLogger(__name__)
MAX_WAIT = 24 * 3600.0
# Multiplier of the base interval per disable reason (the text before ':'); others get DEFAULT_FACTOR.
REASON_FACTORS = {
    "CONSUMER_SUSPENDED": 1.0,
    "SERVICE_DISABLED": 1.0,
    "BILLING_DISABLED": 2.0,
    "API_KEY_SERVICE_BLOCKED": 2.0,
    "API_KEY_INVALID": 4.0,
    "API_KEY_EXPIRED": 8.0,
}
DEFAULT_FACTOR = 2.0

Check = Callable[
    [Credential], Awaitable[bool | None]
]  # True: works again; False: still refused; None: unknown
Healed = Callable[[Credential, str], Awaitable[None]]


def next_wait(reason: str, failed_checks: int, base: float) -> float:
    """Seconds until the next check of a credential disabled for `reason` after `failed_checks`."""
    factor = REASON_FACTORS.get(reason.partition(":")[0].strip(), DEFAULT_FACTOR)
    return min(MAX_WAIT, base * factor * 2.0 ** min(failed_checks, 20))


@dataclass(slots=True)
class _Schedule:
    reason: str
    due: float
    failed_checks: int = 0


class Healer:
    """Checks due credentials of the kinds it has a check for; `run_once` is one pass."""

    def __init__(self, pool: CredentialPool, checks: dict[str, Check], healed: Healed, base: float) -> None:
        self.pool = pool
        self.checks = checks
        self.healed = healed
        self.base = base
        self._schedule: dict[str, _Schedule] = {}

    def failed_checks(self, credential_id: str) -> int:
        """Checks that found this credential still refused since it was disabled."""
        entry = self._schedule.get(credential_id)
        return entry.failed_checks if entry is not None else 0

    def next_check(self, credential_id: str) -> float | None:
        """When the healer next checks this credential (pool clock), or None if it has not taken it up."""
        entry = self._schedule.get(credential_id)
        return entry.due if entry is not None else None

    def _due(self, now: float) -> list[Credential]:
        due = []
        sick = {c.id: c for c in self.pool if c.enabled and c.disabled_reason and c.kind in self.checks}
        for cid in [cid for cid in self._schedule if cid not in sick]:
            del self._schedule[cid]  # healed by an operator, removed, or turned off
        for cid, credential in sick.items():
            reason = credential.disabled_reason or ""
            entry = self._schedule.get(cid)
            if entry is None or entry.reason != reason:
                entry = self._schedule[cid] = _Schedule(reason, now + next_wait(reason, 0, self.base))
            if entry.due <= now:
                due.append(credential)
        return due

    async def run_once(self) -> list[str]:
        """Check every due credential; the ids of those that came back."""
        back = []
        for credential in self._due(self.pool.clock()):
            entry = self._schedule[credential.id]
            try:
                works = await self.checks[credential.kind](credential)
            except Exception:  # a check must never stop the healer
                log.exception("re-checking credential %s failed", credential.label)
                works = None
            now = self.pool.clock()
            if works and credential.disabled_reason == entry.reason and credential.enabled:
                self.pool.heal(credential.id)
                del self._schedule[credential.id]
                back.append(credential.id)
                await self.healed(credential, entry.reason)
                continue
            if works is False:
                entry.failed_checks += 1
            entry.due = now + next_wait(entry.reason, entry.failed_checks, self.base)
        return back

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.run_once()
