"""One call at a time on a page: a first-come, first-served lock with a visible queue.

A page can run one prompt at a time, so each profile's calls take turns. Unlike a bare
asyncio.Lock, the holder and the waiters are known (for /api/pool), a waiter gives up after a
timeout instead of wedging, and `release` is idempotent: the call, its cleanup and the watchdog
may all release the same turn, and only the first release counts.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


@dataclass(eq=False, slots=True)
class Ticket:
    model: str | None
    id: int = field(default_factory=lambda: next(_ids))
    enqueued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    granted: asyncio.Future[None] | None = None


class TurnQueue:
    def __init__(self) -> None:
        self.holder: Ticket | None = None
        self.waiting: deque[Ticket] = deque()

    def __len__(self) -> int:
        return len(self.waiting) + (self.holder is not None)

    async def acquire(self, ticket: Ticket, patience: float) -> None:
        """Wait for the turn; TimeoutError after `patience` seconds (the ticket leaves the queue)."""
        if self.holder is None and not self.waiting:
            self._grant(ticket)
            return
        ticket.granted = asyncio.get_running_loop().create_future()
        self.waiting.append(ticket)
        try:
            async with asyncio.timeout(patience):
                await ticket.granted
        except BaseException:
            if ticket in self.waiting:
                self.waiting.remove(ticket)
            elif self.holder is ticket:
                self.release(ticket)  # granted just as the wait was given up: pass it on
            raise

    def _grant(self, ticket: Ticket) -> None:
        self.holder = ticket
        ticket.started_at = time.time()

    def release(self, ticket: Ticket) -> bool:
        """Give the turn to the next waiter; False if `ticket` did not hold it (already released)."""
        if self.holder is not ticket:
            return False
        self.holder = None
        while self.waiting:
            nxt = self.waiting.popleft()
            if nxt.granted is not None and not nxt.granted.done():
                self._grant(nxt)
                nxt.granted.set_result(None)
                break
        return True

    def position(self, ticket: Ticket) -> int | None:
        """0 while the ticket holds the turn, 1 for the next in line, ...; None when gone."""
        if self.holder is ticket:
            return 0
        try:
            return self.waiting.index(ticket) + 1
        except ValueError:
            return None

    def view(self, now: float) -> dict[str, Any]:
        holder = self.holder
        return {
            "held_by": None
            if holder is None
            else {
                "ticket": holder.id,
                "model": holder.model,
                "for_seconds": round(now - (holder.started_at or now), 1),
            },
            "queue": [
                {
                    "position": i + 1,
                    "ticket": t.id,
                    "model": t.model,
                    "waiting_seconds": round(now - t.enqueued_at, 1),
                }
                for i, t in enumerate(self.waiting)
            ],
        }
