"""Both transports say what went wrong in the gateway's own errors, the same way (transport.base)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from gemini_gateway.errors import StreamCut, UpstreamError, UpstreamUnreachable
from gemini_gateway.transport.aiohttp_transport import AiohttpTransport
from gemini_gateway.transport.base import Transport, error_of
from gemini_gateway.transport.http1 import Http1Transport
from tests.transport.scripted import Server, ok

Build = Callable[[], Transport]


def lean() -> Transport:
    return Http1Transport(connect_timeout=2.0, read_timeout=0.3)


def pooled() -> Transport:
    return AiohttpTransport.create(proxy=None, connect_timeout=2.0, read_timeout=0.3)


@pytest.fixture(params=[lean, pooled], ids=["http1", "aiohttp"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    built: Transport = request.param()
    yield built
    await built.aclose()


async def test_nobody_listening_is_unreachable(transport: Transport) -> None:
    with pytest.raises(UpstreamUnreachable) as caught:
        await transport.request("GET", "http://127.0.0.1:9/", {})  # the discard port
    assert type(caught.value) is UpstreamUnreachable and caught.value.status_code == 502


async def test_silence_before_the_answer_is_a_504(transport: Transport) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)

    async with Server(silent) as url:
        with pytest.raises(UpstreamUnreachable, match="did not answer in time") as caught:
            await transport.stream("POST", url, {}, b"{}")
    assert caught.value.status_code == 504


async def test_a_body_cut_part_way_is_a_stream_cut_and_unreachable_when_read_whole(
    transport: Transport,
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\none,\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async with Server(cut, cut) as url:
        answer = await transport.stream("POST", url, {}, b"{}")
        got = []
        with pytest.raises(StreamCut, match="the upstream stream was cut"):
            async for chunk in answer.chunks():
                got.append(chunk)
        assert got == [b"one,"]
        with pytest.raises(UpstreamUnreachable) as caught:
            await transport.request("POST", url, {}, b"{}")
        assert not isinstance(caught.value, StreamCut)


async def test_a_stalled_stream_is_a_504_stream_cut(transport: Transport) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\none,\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async with Server(stall) as url:
        answer = await transport.stream("POST", url, {}, b"{}")
        with pytest.raises(StreamCut, match="stalled") as caught:
            async for _ in answer.chunks():
                pass
    assert caught.value.status_code == 504


async def test_error_answers_are_answers_and_error_of_keeps_their_body(transport: Transport) -> None:
    denied = b'{"error":{"code":403,"message":"no","status":"PERMISSION_DENIED"}}'
    answer = ok(denied).replace(b"200 OK", b"403 Forbidden")
    async with Server(answer, answer) as url:
        reply = await transport.request("GET", url, {})
        assert (reply.status, reply.body) == (403, denied)
        error = await error_of(await transport.stream("POST", url, {}, b"{}"))
    assert isinstance(error, UpstreamError)
    assert (error.status_code, error.body, error.google_status) == (403, denied, "PERMISSION_DENIED")
