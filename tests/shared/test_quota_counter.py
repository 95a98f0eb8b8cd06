"""The shared quota counter's script on a real Redis: atomic places, waits, refunds, token windows;
and a replica's own limits divided when Redis is gone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gemini_gateway.pool.classify import next_pacific_midnight
from gemini_gateway.pool.credential import Credential
from gemini_gateway.pool.quota import Charge, QuotaBook
from gemini_gateway.shared.events import Event
from gemini_gateway.shared.redis_state import RedisState

MODEL = "gemini-2.5-flash"


class Quiet:
    """A receiver that takes nothing in (these tests place quota only)."""

    def event(self, event: Event) -> None:
        return None

    def snapshot(self) -> list[Event]:
        return []

    def degraded(self, replicas: int | None) -> None:
        return None


def charge(credential_id: str = "api_key:abc") -> Charge:
    now = time.time()
    return Charge(credential_id, MODEL, [now, 0.0], next_pacific_midnight(now))


async def started(url: str, replica: str) -> RedisState:
    state = RedisState(url, replica, Quiet())
    await state.start()
    return state


async def test_concurrent_places_from_two_replicas_count_each_call_once(redis_url: str) -> None:
    a, b = await started(redis_url, "a"), await started(redis_url, "b")
    try:
        charges = [charge() for _ in range(20)]
        waits = await asyncio.gather(
            *((a if i % 2 else b).place(c, {"rpm": 7, "rpd": 100}, 10) for i, c in enumerate(charges))
        )
        assert waits.count(0.0) == 7, waits
        assert all(0 < w <= 61 for w in waits if w), waits
        assert sum(c.shared is not None for c in charges) == 7
        # A refund (Google refused the call) gives the call back to everyone.
        placed = next(c for c in charges if c.shared is not None)
        a.adjust(placed, -1, -placed.shared_tokens)
        await _until(lambda: _placed_now(b))
    finally:
        await a.aclose()
        await b.aclose()


async def test_tokens_per_minute_and_requests_per_day_are_shared(redis_url: str) -> None:
    a, b = await started(redis_url, "a"), await started(redis_url, "b")
    try:
        assert await a.place(charge("t"), {"tpm": 100}, 60) == 0.0
        assert await b.place(charge("t"), {"tpm": 100}, 60) > 0  # 120 tokens would be over 100
        assert await b.place(charge("t"), {"tpm": 100}, 40) == 0.0
        first = charge("d")
        assert await a.place(first, {"rpd": 1}, 1) == 0.0
        day_wait = await b.place(charge("d"), {"rpd": 1}, 1)
        assert day_wait is not None and day_wait > 0
        assert abs(day_wait - (first.day_ends - time.time())) < 5  # until midnight Pacific
    finally:
        await a.aclose()
        await b.aclose()


def test_a_replica_counting_alone_takes_its_share_of_each_limit() -> None:
    book = QuotaBook({"tiny": {MODEL: {"rpm": 5, "tpm": None, "rpd": 0}}})
    book.kind_tiers = {"api_key": "tiny"}
    key = Credential(kind="api_key", secret="fake-key-divided-0001")
    assert book.limits(key, MODEL)[0] == {"rpm": 5, "rpd": 0}
    book.divisor = 2
    assert book.limits(key, MODEL)[0] == {"rpm": 2, "rpd": 0}  # 0 stays 0: nothing allowed
    book.divisor = 9
    assert book.limits(key, MODEL)[0] == {"rpm": 1, "rpd": 0}  # a share never below one call


async def _placed_now(state: RedisState) -> bool:
    return await state.place(charge(), {"rpm": 7}, 1) == 0.0


async def _until(check: Any, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not await check():
        assert time.monotonic() < end, "not within the deadline"
        await asyncio.sleep(0.02)
