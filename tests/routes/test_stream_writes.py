"""How a relayed stream is cut into writes: one per group of events, the body's end with the last."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gemini_gateway.routes.dialect_flow import send_events
from gemini_gateway.routes.gemini import GoogleJSONArray, GoogleSSE
from gemini_gateway.sse import SSEParser

A, B, C = b'{"n":1}', b'{"n":2}', b'{"n":3}'


async def arriving(groups: list[list[bytes]], end_waits: bool) -> AsyncIterator[list[bytes]]:
    for group in groups:
        await asyncio.sleep(0)  # each group is a read of its own
        yield group
    if end_waits:
        await asyncio.sleep(0)  # the end of the upstream body came in a later read


async def writes(groups: list[list[bytes]], sse: bool, end_waits: bool) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await send_events(arriving(groups, end_waits), GoogleSSE() if sse else GoogleJSONArray(), send)
    return sent


@pytest.mark.parametrize("sse", [True, False])
async def test_the_end_rides_with_the_last_group_when_it_is_there(sse: bool) -> None:
    sent = await writes([[A], [B, C]], sse, end_waits=False)
    assert [m.get("more_body", False) for m in sent] == [True, False]  # two writes, not three
    body = b"".join(m["body"] for m in sent)
    if sse:
        parser = SSEParser()
        assert parser.feed(body) == [A, B, C]
    else:
        assert orjson.loads(body) == [{"n": 1}, {"n": 2}, {"n": 3}]


@pytest.mark.parametrize("sse", [True, False])
async def test_an_end_that_comes_later_gets_a_write_of_its_own(sse: bool) -> None:
    sent = await writes([[A, B], [C]], sse, end_waits=True)
    assert [m.get("more_body", False) for m in sent] == [True, True, False]
    body = b"".join(m["body"] for m in sent)
    if not sse:
        assert orjson.loads(body) == [{"n": 1}, {"n": 2}, {"n": 3}]
    else:
        assert SSEParser().feed(body) == [A, B, C]


async def test_a_send_cancelled_while_the_next_read_is_pending_releases_the_upstream() -> None:
    released: list[str] = []

    async def relay() -> AsyncIterator[list[bytes]]:
        try:
            yield [A]
            await asyncio.sleep(3600)  # the next read: still pending when the send is cancelled
            yield [B]
        finally:
            await asyncio.sleep(0)  # as the relay gives its upstream connection back
            released.append("upstream")

    async def send(message: dict[str, Any]) -> None:
        raise asyncio.CancelledError  # the client went away during the write

    with pytest.raises(asyncio.CancelledError):
        await send_events(relay(), GoogleSSE(), send)
    assert released == ["upstream"]
