"""Small ASGI helpers for the hot routes, which skip request/response objects for speed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from gemini_gateway.errors import RequestError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_HEADERS: Headers = [(b"content-type", b"application/json; charset=UTF-8")]
# How deeply a request body may nest, the top-level object being level 1. Real bodies stay well
# under 30 (OpenAI caps structured-output schemas at 10 levels of nesting, each about two JSON
# levels); much deeper JSON only costs recursion further on (schema translation, the upstream's
# own parser, the recorder's serialisation), so it is refused at the door.
MAX_JSON_DEPTH = 64


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
    if not body.strip():
        raise RequestError("the request body is empty; a JSON object is required")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"Invalid JSON payload received. {exc}") from None
    if not isinstance(data, dict):
        raise RequestError("Invalid JSON payload received. The body must be a JSON object.")
    if nests_deeper_than(data, MAX_JSON_DEPTH):
        raise RequestError(
            f"Invalid JSON payload received. The JSON nests deeper than {MAX_JSON_DEPTH} levels."
        )
    return data


def nests_deeper_than(data: object, limit: int) -> bool:
    """Whether parsed JSON has more than `limit` levels of objects and arrays (a scalar has none).

    A walk one level at a time, without recursion, touching each member of an object or array
    once. Measured against the parse it follows: about as long on chat and agent bodies (text in
    many small objects), next to nothing on inline media (one long string), about 4x on long arrays
    of numbers (token-id embedding input). Scanning the raw bytes instead (drop the strings, count
    brackets) was 4x slower on the chat bodies and 1000x on media, faster only on number arrays.
    """
    level: list[Any] = [data] if type(data) is dict or type(data) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
    return False


def header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def send_response(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = JSON_HEADERS
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body})


class DisconnectGuard:
    """Cancels the handling task the moment the client goes away, so upstream work stops at once."""

    __slots__ = ("_stopped", "_task", "_watcher", "disconnected")

    def __init__(self, receive: Receive) -> None:
        self.disconnected = False
        self._stopped = False
        self._task = asyncio.current_task()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

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
        asyncio.get_running_loop().call_soon(self._watcher.cancel)

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
