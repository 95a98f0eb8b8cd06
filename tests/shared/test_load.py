"""In-flight counts and turns between replicas (shared/load.py), with the channel a direct call
and time an injected clock: batching, no echo, expiry of a silent replica, and Redis outages."""

from __future__ import annotations

import asyncio
import time

from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.pool import CredentialPool
from gemini_gateway.shared.events import Event
from gemini_gateway.shared.load import EXPIRE_SECONDS, FLUSH_SECONDS, LoadShare


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def pool() -> CredentialPool:
    made = CredentialPool("least_busy")
    made.replace("api_key", [Credential("api_key", f"key-number-{i}-secret") for i in range(3)])
    return made


async def flushed(side: LoadShare) -> None:
    """Once `side`'s batch timer (a real loop timer) has fired: polled, with a bound."""
    deadline = time.monotonic() + 60 * FLUSH_SECONDS
    while side._soon is not None:
        assert time.monotonic() < deadline, "the batch was never flushed"
        await asyncio.sleep(FLUSH_SECONDS / 10)


async def test_a_batch_carries_many_calls_and_reaches_the_other_pool() -> None:
    clock = Clock()
    a_pool, b_pool = pool(), pool()
    sent: list[Event] = []
    b_side = LoadShare(b_pool, lambda e: None, clock)
    a_side = LoadShare(a_pool, lambda e: (sent.append(e), b_side.received({**e, "from": "a"})), clock)
    a_pool.on_load = a_side.changed
    taken = [a_pool.acquire("m") for _ in range(4)]
    a_pool.release(taken[-1], "m", None)
    await flushed(a_side)
    assert len(sent) == 1  # five changes, one message
    first, second, third = list(a_pool)
    assert b_pool.busy_elsewhere == {first.id: 1, second.id: 1, third.id: 1}
    assert b_pool.acquire("m").id == second.id  # all busy alike: the one A picked longest ago
    for credential in taken[:3]:
        a_pool.release(credential, "m", None)
    await flushed(a_side)
    assert b_pool.busy_elsewhere == {}
    a_side.close()
    b_side.close()


async def test_turns_heard_are_not_sent_back() -> None:
    clock = Clock()
    a_pool, b_pool = pool(), pool()
    to_a: list[Event] = []
    b_side = LoadShare(b_pool, to_a.append, clock)
    b_pool.on_load = b_side.changed
    a_pool.release(a_pool.acquire("m"), "m", None)
    turns = {c.id: c.last_pick for c in a_pool if c.last_pick}
    b_side.received({"type": "load", "from": "a", "busy": {}, "turns": turns})
    b_side.changed()
    await flushed(b_side)
    assert to_a == []
    b_pool.release(b_pool.acquire("m"), "m", None)
    await flushed(b_side)
    assert len(to_a) == 1 and list(to_a[0]["turns"].values()) == [2]
    b_side.close()


async def test_a_silent_replica_is_forgotten_and_an_outage_forgets_everyone() -> None:
    clock = Clock()
    b_pool = pool()
    b_side = LoadShare(b_pool, lambda e: None, clock)
    cid = next(iter(b_pool)).id
    b_side.received({"type": "load", "from": "a", "busy": {cid: 3}, "turns": {}})
    b_side.received({"type": "load", "from": "c", "busy": {cid: 1}, "turns": {}})
    assert b_pool.busy_elsewhere == {cid: 4}
    clock.now += EXPIRE_SECONDS / 2
    b_side.received({"type": "load", "from": "c", "busy": {cid: 1}, "turns": {}})  # c repeats; a does not
    clock.now += EXPIRE_SECONDS / 2 + 0.1
    b_side._expire()
    assert b_pool.busy_elsewhere == {cid: 1}
    b_side.forget()
    assert b_pool.busy_elsewhere == {}
    b_side.close()
