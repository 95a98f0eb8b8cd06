"""UPSTREAM_PROXY (transport.build): with a proxy set, model calls (unary and streamed) go through it, not around it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, GatewayFactory

BODY = {"contents": [{"role": "user", "parts": [{"text": "through the proxy"}]}]}


class ForwardProxy:
    """A plain HTTP forward proxy on loopback (absolute-form requests), one request per connection."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
            body = await reader.readexactly(length)
            self.seen.append(f"{method} {target}")
            forwarded = {k: v for k, v in headers.items() if k.lower() in ("x-goog-api-key", "content-type")}
            async with httpx.AsyncClient() as client:
                answer = await client.request(method, target, headers=forwarded, content=body)
            writer.write(
                f"HTTP/1.1 {answer.status_code} OK\r\ncontent-type: {answer.headers['content-type']}\r\n"
                f"content-length: {len(answer.content)}\r\nconnection: close\r\n\r\n".encode()
                + answer.content
            )
            await writer.drain()
        finally:
            writer.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        holder: dict[str, asyncio.base_events.Server] = {}

        async def start() -> None:
            holder["server"] = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            started.set()

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(start(), loop)
        assert started.wait(60)
        port = holder["server"].sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            loop.call_soon_threadsafe(holder["server"].close)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)


@pytest.mark.parametrize("stream", [False, True])
def test_model_calls_go_through_the_configured_proxy(
    gateway_factory: GatewayFactory, fake: FakeState, stream: bool
) -> None:
    proxy = ForwardProxy()
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    with proxy.running() as proxy_url, gateway_factory(upstream_proxy=proxy_url) as running:
        answer = httpx.post(f"{running.url}/v1beta/models/gemini-2.5-flash:{method}", json=BODY, timeout=10)
        assert answer.status_code == 200, answer.text
        assert "You said" in answer.text  # the fake's answer, relayed (split into events when streamed)
    [seen] = proxy.seen
    assert seen.startswith("POST http://127.0.0.1:") and f"/v1beta/models/gemini-2.5-flash:{method}" in seen
    assert fake.calls and fake.calls[-1].key in KEYS  # the fake saw a pool key, sent on by the proxy
