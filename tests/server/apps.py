"""A small ASGI app for the protocol tests: each path answers in one of the shapes the gateway's
routes use (a sized JSON answer, a chunked stream, an echo of the body, errors, a websocket)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from gemini_gateway.routes.asgi import DisconnectGuard, read_body

Scope = dict[str, Any]

JSON = b'{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}'


class Events:
    """What the handlers saw, read by the tests from their own thread."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.guarded: list[str] = []  # how the disconnect guard watched: "notice" or "task"
        self.bodies: list[bytes] = []
        self.release = threading.Event()  # lets /held send its first event


class App:
    def __init__(self) -> None:
        self.events = Events()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self.websocket(receive, send)
            return
        path = scope["path"]
        if path == "/json":
            await self.sized(send, JSON, [(b"content-type", b"application/json; charset=UTF-8")])
        elif path == "/empty":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif path == "/stream":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")],
                }
            )
            for n in range(3):
                await send({"type": "http.response.body", "body": b"data: %d\r\n\r\n" % n, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        elif path == "/echo":
            body = await read_body(receive, 1 << 24)
            self.events.bodies.append(body)
            await self.sized(send, body, [(b"content-type", b"application/octet-stream")])
        elif path == "/query":
            text = f"{scope['method']} {scope['path']} {scope['raw_path']!r} {scope['query_string']!r} {scope['http_version']}"
            await self.sized(send, text.encode(), [])
        elif path == "/close":
            await self.sized(send, b"bye", [(b"connection", b"close")])
        elif path == "/bad-header":
            await self.sized(send, b"x", [(b"x-injected", b"a\r\nset-cookie: evil=1")])
        elif path == "/bad-name":
            await self.sized(send, b"x", [(b"x-a\r\nset-cookie", b"evil=1")])
        elif path == "/raise":
            raise RuntimeError("the handler failed before answering")
        elif path == "/held":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            while not self.events.release.is_set():
                await asyncio.sleep(0.005)
            await send({"type": "http.response.body", "body": b"data: late\n\n", "more_body": False})
        elif path == "/guarded":
            body = await read_body(receive, 1 << 20)
            guard = DisconnectGuard(receive, scope)
            try:
                await self.sized(send, body, [])
            finally:
                guard.stop()
        elif path == "/endless":
            await self.endless(scope, receive, send)
        else:
            await self.sized(send, b"not found", [], status=404)

    @staticmethod
    async def sized(send: Any, body: bytes, headers: list[tuple[bytes, bytes]], status: int = 200) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def endless(self, scope: Scope, receive: Any, send: Any) -> None:
        """A stream that runs until the client goes away; the guard must cancel it then."""
        await read_body(receive, 1 << 20)
        guard = DisconnectGuard(receive, scope)
        self.events.guarded.append("task" if guard.watching_with_task else "notice")
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        try:
            while True:
                await send({"type": "http.response.body", "body": b"data: tick\n\n", "more_body": True})
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if guard.absorb():
                self.events.cancelled.set()
                return
            raise
        finally:
            guard.stop()

    @staticmethod
    async def websocket(receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "echo: " + message.get("text", "")})
        await send({"type": "websocket.close", "code": 1000})
