"""Minimal raw-ASGI plumbing: reading bodies and sending whole or streamed answers.

The fake stays on bare ASGI (no framework routing) because it is the upstream in throughput
benchmarks and must stay far faster than the gateway in front of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VARY = (b"vary", b"Origin, X-Origin, Referer")
# Browser tabs (the gateway's executors) call the fake cross-origin, as they call Google.
CORS = (b"access-control-allow-origin", b"*")
JSON_HEADERS = ((b"content-type", b"application/json; charset=UTF-8"), VARY, CORS)
SSE_HEADERS = (
    (b"content-type", b"text/event-stream"),
    (b"content-disposition", b"attachment"),
    VARY,
    CORS,
)
PREFLIGHT_HEADERS = (
    CORS,
    (b"access-control-allow-methods", b"GET, POST, PATCH, DELETE, OPTIONS"),
    (b"access-control-max-age", b"3600"),
)
# A tab continues an upload at the URL the start's answer names, so it must be able to read it.
UPLOAD_EXPOSED = (
    b"access-control-expose-headers",
    b"x-goog-upload-url, x-goog-upload-control-url, x-goog-upload-status, x-goog-upload-size-received, "
    b"x-goog-upload-chunk-granularity",
)
ALLOWED_HEADERS = b"content-type, x-goog-api-key, x-goog-api-client, authorization, x-fake-stream-chunks"


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while message.get("more_body", False):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def start_stream(send: Send, *, sse: bool) -> None:
    """Headers of a streamed 200 answer; without a content-length uvicorn sends it chunked."""
    await send(
        {"type": "http.response.start", "status": 200, "headers": list(SSE_HEADERS if sse else JSON_HEADERS)}
    )


async def send_piece(send: Send, data: bytes, *, last: bool = False) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": not last})


async def send_preflight(scope: Scope, send: Send) -> None:
    """Answer a CORS preflight: any origin, the headers the browser asked for (or the usual ones)."""
    asked = next((v for k, v in scope["headers"] if k == b"access-control-request-headers"), None)
    headers = [*PREFLIGHT_HEADERS, (b"access-control-allow-headers", asked or ALLOWED_HEADERS)]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
