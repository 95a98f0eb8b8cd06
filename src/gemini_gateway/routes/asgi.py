"""Small ASGI helpers shared by the hot routes, which skip request/response objects for speed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from gemini_gateway.errors import RequestError
from gemini_gateway.exchange import Exchange
from gemini_gateway.json_depth import MAX_JSON_DEPTH, nests_deeper_than
from gemini_gateway.server.notice import DISCONNECT_EXTENSION, DisconnectNotice

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_HEADERS: Headers = [(b"content-type", b"application/json; charset=UTF-8")]


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise asyncio.CancelledError("client disconnected while sending the body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise RequestError(f"request body is larger than the {limit} byte limit", status_code=413)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body or body.isspace():  # as `not body.strip()`, without copying the body
        raise RequestError("the request body is empty; a JSON object is required")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"Invalid JSON payload received. {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("Invalid JSON payload received. The body must be a JSON object.")
    if _may_nest_deeper(body, MAX_JSON_DEPTH) and nests_deeper_than(data, MAX_JSON_DEPTH):
        raise RequestError(
            f"Invalid JSON payload received. The JSON nests deeper than {MAX_JSON_DEPTH} levels."
        )
    return data


# Bodies up to this size are first bounded by counting their brackets (a C scan): on a large one
# (inline media) the count would cost more than the walk it spares.
BRACKET_COUNT_LIMIT = 65536


def _may_nest_deeper(body: bytes, limit: int) -> bool:
    """False when `body` cannot nest deeper than `limit`: JSON needs an opening bracket per level,
    so fewer brackets than that (those inside strings counted too) settle it without the walk."""
    return len(body) > BRACKET_COUNT_LIMIT or body.count(b"{") + body.count(b"[") > limit


def header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def gateway_headers(exchange: Exchange, base: Iterable[tuple[bytes, bytes]]) -> Headers:
    """`base` and what the gateway says of every answer: its overhead, the credential that served."""
    headers = list(base)
    headers.append((b"x-gateway-overhead-ms", f"{exchange.overhead_ms():.3f}".encode()))
    if exchange.credential:
        headers.append((b"x-gateway-credential", exchange.credential.encode()))
    if exchange.dropped_tools:
        headers.append((b"x-gateway-dropped-tools", exchange.dropped_tools.encode()))
    return headers


async def send_response(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = JSON_HEADERS
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


class DisconnectGuard:
    """Cancels the handling task the moment the client goes away, so upstream work stops at once.

    Under the gateway's own HTTP protocol (`serve`) the scope offers a `DisconnectNotice` that
    calls back when the client is lost: nothing waits per request then, and only a client that
    does go away costs the watcher task. Under any other server a watcher task waits in
    `receive()` from the start. Either way the disconnect is heard through `receive`, so the
    middleware around the handler (the recorder's tee) learns of it as before.
    """

    __slots__ = ("_receive", "_stopped", "_task", "_watcher", "disconnected")

    def __init__(self, receive: Receive, scope: Scope) -> None:
        self.disconnected = False
        self._stopped = False
        self._receive = receive
        self._watcher: asyncio.Task[None] | None = None
        extensions = scope.get("extensions")
        notice: DisconnectNotice | None = extensions.get(DISCONNECT_EXTENSION) if extensions else None
        if notice is not None:
            # current_task(loop) skips the running-loop look-up (a getpid() call on CPython 3.11).
            self._task = asyncio.current_task(notice.loop)
            if notice.watch(self._gone):
                return
            loop = notice.loop  # gone already: the watcher hears it at once
        else:
            self._task = asyncio.current_task()
            loop = asyncio.get_running_loop()
        self._watcher = loop.create_task(self._watch(receive))

    @property
    def watching_with_task(self) -> bool:
        """Whether a watcher task is waiting in `receive()` (no disconnect notice, or a disconnect)."""
        return self._watcher is not None

    def _gone(self) -> None:
        # Called by the protocol as the connection is lost, before the response is complete.
        if not self._stopped and self._task is not None:
            self._watcher = self._task.get_loop().create_task(self._watch(self._receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not self._stopped:
                    self.disconnected = True
                    if self._task is not None:
                        self._task.cancel()
                return

    def stop(self) -> None:
        # uvicorn answers the pending receive() with http.disconnect once the response is complete,
        # so the watcher normally ends by itself on the next loop turn. Cancelling it outright costs
        # a reference cycle per request (the CancelledError's traceback holds the frames holding the
        # future that holds the error), which keeps the whole request alive until the cyclic garbage
        # collector runs: ~15% of the gateway's CPU under load. So it is cancelled only if it is
        # still waiting a turn later, as with a server that does not wake it.
        self._stopped = True
        watcher = self._watcher
        if watcher is not None:
            watcher.get_loop().call_soon(watcher.cancel)

    def absorb(self) -> bool:
        """In an `except CancelledError`: True (and the cancel undone) if it came from a disconnect."""
        if self.disconnected and self._task is not None:
            self._task.uncancel()
            return True
        return False


class ASGIEndpoint:
    """Marks a plain `(scope, receive, send)` function as an ASGI app for Starlette's `Route`.

    Starlette wraps plain functions as request/response handlers; an object is mounted as is.
    """

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)
