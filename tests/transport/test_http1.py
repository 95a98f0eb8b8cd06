"""The lean HTTP/1.1 transport against scripted servers on loopback, on asyncio's loop and uvloop."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import uvloop

from gemini_gateway.errors import StreamCut, UpstreamUnreachable
from gemini_gateway.transport.http1 import Http1Transport, Origin
from tests.transport.scripted import Server, ok


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[Any]], Any]:
    # Sync tests with their own loop: the gateway serves on uvloop, the test suite's loop is asyncio's.
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[no-any-return]


def client(**overrides: float) -> Http1Transport:
    return Http1Transport(
        connect_timeout=overrides.get("connect", 2.0), read_timeout=overrides.get("read", 2.0)
    )


def test_keep_alive_reuses_one_connection_and_sends_what_it_was_given(run: Any) -> None:
    server = Server(ok(b'{"a":1}'), ok(b'{"b":2}'))

    async def sequential() -> list[bytes]:
        async with server as url:
            http = client()
            answers = []
            for path in ("/v1beta/models/m:generateContent?x=1", "/second"):
                response = await http.request("POST", url + path, {"x-goog-api-key": "k1"}, b"{}")
                assert response.status == 200 and response.headers["content-type"] == "application/json"
                answers.append(response.body)
            await http.aclose()
            return answers

    assert run(sequential()) == [b'{"a":1}', b'{"b":2}']
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /v1beta/models/m:generateContent?x=1 HTTP/1.1\r\n")
    assert b"x-goog-api-key: k1\r\n" in first and b"content-length: 2\r\n" in first and first.endswith(b"{}")


def test_an_idle_connection_the_server_closed_is_replaced_and_the_request_sent_again(run: Any) -> None:
    async def close_after_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(ok(b"first", "connection: keep-alive"))
        await writer.drain()  # then the server closes, as uvicorn does after its keep-alive timeout

    server = Server(close_after_answer, ok(b"second"))

    async def main() -> bytes:
        async with server as url:
            http = client()
            assert (await http.request("GET", url + "/a", {})).body == b"first"
            await asyncio.sleep(0.1)  # the close reaches the client while the connection is idle
            answer = (await http.request("GET", url + "/b", {})).body
            await http.aclose()
            return answer

    assert run(main()) == b"second"
    assert server.connections == 2


def test_chunked_gzip_and_read_to_close_bodies(run: Any) -> None:
    packed = gzip.compress(b'{"zipped":true}')
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    zipped = ok(packed, "content-encoding: gzip")

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()

    async def main() -> list[bytes]:
        async with Server(chunked, zipped, until_close) as url:
            http = client()
            answers = [(await http.request("GET", url, {})).body for _ in range(3)]
            await http.aclose()
            return answers

    assert run(main()) == [b"hello world", b'{"zipped":true}', b"all of it"]


def test_a_stream_cut_mid_way_is_an_error_not_an_end(run: Any) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        writer.write(b"b\r\ndata: one\n\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async def main() -> list[bytes]:
        async with Server(cut) as url:
            http = client()
            response = await http.stream("POST", url, {}, b"{}")
            got: list[bytes] = []
            with pytest.raises(StreamCut, match="the upstream stream was cut"):
                async for chunk in response.chunks():
                    got.append(chunk)
            await http.aclose()
            return got

    assert run(main()) == [b"data: one\n\n"]


def test_silence_is_a_timeout_and_the_connection_is_not_reused(run: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)

    server = Server(silent, ok(b"later"))

    async def main() -> bytes:
        async with server as url:
            http = client(read=0.2)
            with pytest.raises(UpstreamUnreachable, match="did not answer in time") as caught:
                await http.request("POST", url, {}, b"{}")
            assert caught.value.status_code == 504
            answer = (await http.request("POST", url, {}, b"{}")).body
            await http.aclose()
            return answer

    assert run(main()) == b"later"
    assert server.connections == 2


def test_a_reused_connection_times_each_answer_from_its_own_request(run: Any) -> None:
    """A connection keeps one read-timeout timer across the answers it carries. Given back with it
    pending, it fires during the next answer's wait and must look again at that wait's own deadline
    (neither failing it early nor forgetting it); fired with nothing to wait for, the next wait
    starts another."""

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.6)  # past the previous answer's deadline, within its own
        writer.write(ok(b"3"))
        await writer.drain()
        await Server(silent)._serve(reader, writer)  # the fourth request on the same connection

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)

    server = Server(ok(b"1"), ok(b"2"), slow, ok(b"later"))

    async def main() -> list[bytes]:
        async with server as url:
            http = client(read=0.8)
            answers = [(await http.request("POST", url, {}, b"{}")).body]
            await asyncio.sleep(0.9)  # the first answer's timer fires, finding no wait
            answers.append((await http.request("POST", url, {}, b"{}")).body)
            await asyncio.sleep(0.4)  # the second's is still pending when the third is sent
            answers.append((await http.request("POST", url, {}, b"{}")).body)
            with pytest.raises(UpstreamUnreachable, match="did not answer in time"):
                await http.request("POST", url, {}, b"{}")
            answers.append((await http.request("POST", url, {}, b"{}")).body)
            await http.aclose()
            return answers

    assert run(main()) == [b"1", b"2", b"3", b"later"]
    assert server.connections == 2  # the timed-out connection was not reused


def test_a_stream_times_out_on_silence_between_events_not_on_its_length(run: Any) -> None:
    """The read timeout is the longest wait for the next bytes: a stream that keeps sending for
    longer than it is not cut, one that then falls silent is, as a stall (504)."""

    async def slow_then_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        for _ in range(8):
            writer.write(b"b\r\ndata: one\n\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(5)

    async def main() -> tuple[list[bytes], StreamCut]:
        async with Server(slow_then_silent) as url:
            http = client(read=0.4)
            response = await http.stream("POST", url, {}, b"{}")
            got: list[bytes] = []
            with pytest.raises(StreamCut) as caught:
                async for chunk in response.chunks():
                    got.append(chunk)
            await http.aclose()
            return got, caught.value

    got, cut = run(main())
    assert b"".join(got) == b"data: one\n\n" * 8  # 0.8 s of events, each within 0.4 s of the last
    assert cut.status_code == 504 and "stalled" in cut.message


def test_refusals_before_anything_is_sent(run: Any) -> None:
    async def main() -> None:
        http = client(connect=0.5)
        for value in ("k\r\nx-evil: 1", "k\nx-evil: 1", "k\r", "\n"):
            with pytest.raises(UpstreamUnreachable, match="line break"):
                await http.request("GET", "http://127.0.0.1:9/", {"x-goog-api-key": value})
            with pytest.raises(UpstreamUnreachable, match="line break"):
                await http.request("GET", "http://127.0.0.1:9/", {"x-a": "1", f"x-{value}": "1"})
        with pytest.raises(UpstreamUnreachable, match="latin-1"):
            await http.request("GET", "http://127.0.0.1:9/", {"x-goog-api-key": "k€"})
        # A request line is never sent broken or silently changed (urlsplit drops tabs and newlines).
        for url in ("/models/a b:x", "/models/a\tb", "/models/a\r\nx-evil: 1", "/models/\u2713"):
            with pytest.raises(UpstreamUnreachable, match="control or non-ASCII"):
                await http.request("POST", "http://127.0.0.1:9" + url, {})
        with pytest.raises(UpstreamUnreachable, match="could not connect") as caught:
            await http.stream("GET", "http://127.0.0.1:9/", {})  # the discard port: nobody listens
        assert caught.value.status_code == 502
        await http.aclose()

    run(main())


def test_a_response_closed_twice_goes_back_to_the_pool_once(run: Any) -> None:
    server = Server(ok(b"1"), ok(b"2"), ok(b"3"))

    async def main() -> list[bytes]:
        async with server as url:
            http = client()
            first = await http.stream("GET", url, {})
            assert await first.read() == b"1"
            first.close()  # read() closed it already
            second, third = await http.stream("GET", url, {}), None
            body = await second.read()
            third = await http.stream("GET", url, {})
            answers = [body, await third.read()]
            await http.aclose()
            return answers

    assert run(main()) == [b"2", b"3"]
    assert server.connections == 1


def test_a_body_from_an_async_iterator_is_sent_as_it_comes(run: Any) -> None:
    """Chunked when its length is unknown, as is under the caller's content-length."""
    received: list[bytes] = []

    async def read_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b""
        while size := int((await reader.readline()).strip(), 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readexactly(2)
        received.append(body)
        writer.write(ok(b"chunked"))
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one,", b"", b"two," * 50_000, b"three"):
            await asyncio.sleep(0)
            yield part

    server = Server(read_chunked, ok(b"sized"))

    async def main() -> list[bytes]:
        async with server as url:
            http = client()
            first = await http.request("POST", url, {}, parts())
            second = await http.request("PUT", url, {"content-length": "200009"}, parts())
            await http.aclose()
            return [first.body, second.body]

    assert run(main()) == [b"chunked", b"sized"]
    assert received == [b"one," + b"two," * 50_000 + b"three"]
    assert b"transfer-encoding: chunked\r\n" in server.requests[0]
    sized = server.requests[1]
    assert b"transfer-encoding" not in sized and sized.endswith(b"one," + b"two," * 50_000 + b"three")
    assert server.connections == 2  # a streamed body never rides a reused connection


def test_origins() -> None:
    assert Origin.of("https://generativelanguage.googleapis.com/v1beta/models?pageSize=5") == (
        Origin("https", "generativelanguage.googleapis.com", 443),
        "/v1beta/models?pageSize=5",
    )
    origin, target = Origin.of("http://[::1]:8090")
    assert (origin.host_header, target) == ("[::1]:8090", "/")
    with pytest.raises(ValueError):
        Origin.of("ftp://example.com/x")
