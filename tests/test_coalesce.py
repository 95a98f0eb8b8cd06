"""ready_groups: events that arrived together leave together, and nothing waits for company."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gemini_gateway.coalesce import marking_last, ready_groups


async def reads(bursts: list[list[bytes]], gate: asyncio.Queue[None] | None = None) -> AsyncIterator[bytes]:
    """Like an upstream parser: each burst is one read, whose events are yielded without waiting."""
    for burst in bursts:
        if gate is not None:
            await gate.get()
        else:
            await asyncio.sleep(0)  # a real wait for the next read
        for event in burst:
            yield event


async def collect(events: AsyncIterator[bytes]) -> list[list[bytes]]:
    return [group async for group in ready_groups(events)]


async def test_events_of_one_read_form_one_group() -> None:
    groups = await collect(reads([[b"a", b"b", b"c"], [b"d"], [b"e", b"f"]]))
    assert groups == [[b"a", b"b", b"c"], [b"d"], [b"e", b"f"]]


async def test_an_iterator_that_never_waits_is_one_group() -> None:
    async def instant() -> AsyncIterator[int]:
        for i in range(5):
            yield i

    assert [g async for g in ready_groups(instant())] == [[0, 1, 2, 3, 4]]


async def test_a_group_leaves_before_the_next_read_arrives() -> None:
    gate: asyncio.Queue[None] = asyncio.Queue()
    groups = ready_groups(reads([[b"a", b"b"], [b"c"]], gate))
    gate.put_nowait(None)
    assert await anext(groups) == [b"a", b"b"]
    waiting = asyncio.ensure_future(anext(groups))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the second read has not come: nothing is held back for it
    gate.put_nowait(None)
    assert await waiting == [b"c"]
    assert await anext(groups, None) is None


async def test_events_before_a_failure_go_out_then_the_failure() -> None:
    async def cut() -> AsyncIterator[bytes]:
        await asyncio.sleep(0)
        yield b"a"
        yield b"b"
        raise ConnectionResetError("cut")

    groups = ready_groups(cut())
    assert await anext(groups) == [b"a", b"b"]
    with pytest.raises(ConnectionResetError):
        await anext(groups)


async def test_cancelling_the_reader_reaches_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                await asyncio.sleep(3600)
                yield b"never"
        finally:
            closed.set()

    async def relay() -> None:
        async for _ in ready_groups(endless()):
            pass

    task = asyncio.ensure_future(relay())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()


def test_under_uvloop_as_served() -> None:
    uvloop = pytest.importorskip("uvloop")  # `serve` runs uvloop; its tasks drive the steps too
    groups = uvloop.run(collect(reads([[b"a", b"b"], [b"c"], [b"d", b"e", b"f"]])))
    assert groups == [[b"a", b"b"], [b"c"], [b"d", b"e", b"f"]]


async def test_a_consumer_that_stops_early_closes_the_source() -> None:
    closed = asyncio.Event()

    async def source() -> AsyncIterator[bytes]:
        try:
            for event in (b"a", b"b"):
                await asyncio.sleep(0)
                yield event
        finally:
            closed.set()

    groups = ready_groups(source())
    assert await anext(groups) == [b"a"]
    await groups.aclose()  # as when sending to the client failed
    assert closed.is_set()


async def test_closing_early_lets_the_source_await_its_cleanup() -> None:
    released: list[str] = []

    async def source() -> AsyncIterator[bytes]:
        try:
            yield b"a"
            await asyncio.sleep(3600)
            yield b"never"
        finally:
            await asyncio.sleep(0.001)  # as the relay gives its upstream connection back
            released.append("upstream")

    groups = ready_groups(source())
    assert await anext(groups) == [b"a"]
    await groups.aclose()
    assert released == ["upstream"]


async def marked(items: AsyncIterator[bytes]) -> list[tuple[bytes, bool]]:
    return [pair async for pair in marking_last(items)]


async def test_the_last_item_is_marked_when_the_end_is_already_there() -> None:
    async def burst() -> AsyncIterator[bytes]:
        await asyncio.sleep(0)
        yield b"a"
        await asyncio.sleep(0)
        yield b"b"
        yield b"c"  # the end follows without a wait

    assert await marked(burst()) == [(b"a", False), (b"b", False), (b"c", True)]


async def test_an_end_that_needs_a_wait_is_not_guessed() -> None:
    async def slow_end() -> AsyncIterator[bytes]:
        yield b"a"
        await asyncio.sleep(0)  # the end of the body is still on its way

    assert await marked(slow_end()) == [(b"a", False)]


async def test_a_failure_after_the_last_item_follows_it_unmarked() -> None:
    async def cut() -> AsyncIterator[bytes]:
        yield b"a"
        raise ConnectionResetError("cut")

    pairs = marking_last(cut())
    assert await anext(pairs) == (b"a", False)
    with pytest.raises(ConnectionResetError):
        await anext(pairs)
