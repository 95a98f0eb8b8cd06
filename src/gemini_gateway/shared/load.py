"""Calls in flight and round-robin turns, shared between replicas with no Redis round trip on any
call's path.

Each replica sends what changed, in one event on the shared channel at most every
FLUSH_SECONDS: its calls in flight per credential (every non-zero count: the event replaces the
last) and the pick numbers of the credentials it picked since it last sent. The others sum the
senders' counts into the pool's `busy_elsewhere`, which least-busy adds to its own, and take the
pick numbers as a Lamport clock (CredentialPool.saw_turns): a credential picked more recently on
any replica waits for its turn on all. Picks less than a batch apart on two replicas may still
meet on one credential; the next picks spread again.

A replica with calls in flight repeats its counts every REPEAT_SECONDS, and counts not repeated
for EXPIRE_SECONDS are dropped (a replica gone with calls in flight). While Redis is gone each
replica forgets the others' counts and balances its own calls, as without Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping

from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.shared.events import Event

__all__ = ["EXPIRE_SECONDS", "FLUSH_SECONDS", "REPEAT_SECONDS", "LoadShare", "busy_of", "sum_busy"]

FLUSH_SECONDS = 0.1  # each message costs work whatever the load: at most 10 a second
REPEAT_SECONDS = 1.0
EXPIRE_SECONDS = 3.5

Heard = dict[str, tuple[float, dict[str, int]]]  # sender -> (when its last counts came, counts)


def busy_of(credentials: Iterable[Credential]) -> dict[str, int]:
    return {c.id: c.in_flight for c in credentials if c.in_flight > 0}


def new_turns(credentials: Iterable[Credential], told: Mapping[str, int]) -> dict[str, int]:
    """Pick numbers the other replicas have not heard of yet."""
    return {c.id: c.last_pick for c in credentials if c.last_pick > told.get(c.id, 0)}


def sum_busy(heard: Mapping[str, tuple[float, Mapping[str, int]]], since: float) -> dict[str, int]:
    """Calls in flight per credential over every sender heard from at `since` or later."""
    total: dict[str, int] = {}
    for when, counts in heard.values():
        if when >= since:
            for cid, count in counts.items():
                total[cid] = total.get(cid, 0) + count
    return total


class LoadShare:
    """One replica's side: sends its counts and turns in batches, keeps the others' in the pool."""

    def __init__(
        self, pool: CredentialPool, send: Callable[[Event], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.pool = pool
        self.send = send
        self.clock = clock
        self._loop = asyncio.get_running_loop()
        self._soon: asyncio.TimerHandle | None = None
        self._repeat: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._sent_busy: dict[str, int] = {}
        self._told: dict[str, int] = {}  # pick numbers the others know, per credential
        self._heard: Heard = {}

    def changed(self) -> None:
        """The pool's `on_load`, on every take and release: at most one timer for a batch."""
        if self._soon is None:
            self._soon = self._loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self, repeat: bool = False) -> None:
        self._soon = None
        if self._repeat is not None:
            self._repeat.cancel()
            self._repeat = None
        busy = busy_of(self.pool)
        turns = new_turns(self.pool, self._told)
        if turns or busy != self._sent_busy or (repeat and busy):
            self.send({"type": "load", "busy": busy, "turns": turns})
            self._sent_busy = busy
            self._told.update(turns)
        if busy:
            self._repeat = self._loop.call_later(REPEAT_SECONDS, self.flush, True)

    def received(self, event: Event) -> None:
        """Another replica's counts (they replace its last) and its new pick numbers."""
        turns = {str(cid): int(turn) for cid, turn in (event.get("turns") or {}).items()}
        if turns:
            self.pool.saw_turns(turns)
            for cid, turn in turns.items():  # the others know it now: not sent back to them
                self._told[cid] = max(self._told.get(cid, 0), turn)
        sender = str(event.get("from"))
        busy = {str(cid): int(count) for cid, count in (event.get("busy") or {}).items()}
        if busy:
            self._heard[sender] = (self.clock(), busy)
        elif self._heard.pop(sender, None) is None:
            return
        self._recount()

    def _recount(self) -> None:
        since = self.clock() - EXPIRE_SECONDS
        for sender in [s for s, (when, _) in self._heard.items() if when < since]:
            del self._heard[sender]
        self.pool.busy_elsewhere = sum_busy(self._heard, since)
        if self._heard and self._expiry is None:
            self._expiry = self._loop.call_later(EXPIRE_SECONDS, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        self._recount()

    def forget(self) -> None:
        """Redis is gone: the others' counts are stale from now on."""
        self._heard.clear()
        self.pool.busy_elsewhere = {}

    def resend(self) -> None:
        """Redis is back: the others may have dropped this replica's counts; send them afresh."""
        self._sent_busy = {}
        self.changed()

    def close(self) -> None:
        for handle in (self._soon, self._repeat, self._expiry):
            if handle is not None:
                handle.cancel()
        self._soon = self._repeat = self._expiry = None
        if self._sent_busy:  # the others drop this replica's counts now rather than at expiry
            self.send({"type": "load", "busy": {}, "turns": {}})
        self.forget()
