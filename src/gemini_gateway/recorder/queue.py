"""The recorder's one queue: finished exchanges waiting for the sink, taken a batch at a time.

    request path ──put()──► list ──take()──► sink (its writer task, or its sender to the process)

A list the request path appends to and the sink takes whole: an append and, when the sink is
waiting, one future resolved. asyncio.Queue costs a few times that per record on both sides
(its getters, its unfinished-task count), and the sink only ever wants everything there is.
It is bounded: what finds no room goes to the sink's `overflow`, which spools it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gemini_gateway.recorder.capture import Capture


class RecordQueue:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[Capture] = []
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def put(self, capture: Capture, held: int = 0) -> bool:
        """Queue one exchange; False when there is no room (`held`: what the sink still holds in
        memory besides, counted against the same limit) or the queue is closed."""
        if self.closed or len(self.items) + held >= self.limit:
            return False
        self.items.append(capture)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        return True

    def take(self, limit: int | None = None) -> list[Capture]:
        """Up to `limit` exchanges (all, without one), oldest first."""
        items = self.items
        if limit is None or len(items) <= limit:
            self.items = []
            return items
        self.items = items[limit:]
        return items[:limit]

    async def wait(self, within: float | None = None) -> bool:
        """Until something is queued (True), the queue is closed, or `within` seconds pass."""
        if self.items:
            return True
        if self.closed:
            return False
        waiter = self._waiter
        if waiter is None or waiter.done():
            waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(within):
                await waiter  # cancelled with the waiting task: `put` skips a done waiter
        except TimeoutError:
            pass
        return bool(self.items)

    def close(self) -> None:
        """No more exchanges: `put` refuses them (they go to `overflow`); a waiting sink wakes."""
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
