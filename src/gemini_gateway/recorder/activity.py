"""Requests in flight, so that the gateway's own writer records between them, not during them.

On one core, the recorder's work (building a record, inserting it) and a request share the
event loop: a request that arrives while a record is being built waits for it. Writing only
while no request is in flight, a small unit at a time, bounds that wait to one unit.
"""

from __future__ import annotations

import asyncio

# Bytes that arrived while a unit ran are read on the loop's next turn and become a request (the
# middleware's `enter`) on the turn after: the writer looks again only after these many turns.
SETTLE_TURNS = 3


class Activity:
    def __init__(self) -> None:
        self.in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    def enter(self) -> None:
        self.in_flight += 1
        if self.in_flight == 1:
            self._quiet.clear()

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._quiet.set()

    async def quiet(self, deadline: float) -> bool:
        """Wait until no request is in flight (True), or until the loop's clock reaches `deadline`."""
        loop = asyncio.get_running_loop()
        while True:
            if self.in_flight:
                if loop.time() >= deadline:
                    return False
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._quiet.wait()
                except TimeoutError:
                    return False
            for _ in range(SETTLE_TURNS):
                await asyncio.sleep(0)
            if not self.in_flight:
                return True
