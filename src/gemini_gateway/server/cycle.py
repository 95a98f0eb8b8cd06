"""One request and its response on a connection: the ASGI `receive` and `send` the app is given.

What it does as uvicorn's httptools `RequestResponseCycle` does, and where it does less:

- `send` writes a whole answer (its head and then its body in the same step of the task) in one
  `transport.write`: the head is held until the first body message or the end of the loop turn,
  whichever comes first, so a stream's head still leaves before its first event.
- header names and values are refused when they carry CR or LF (what could split the response),
  counted over the whole head in C, instead of two regular expressions per header.
- `receive` waits on a bare future of the connection's loop, not an `asyncio.Event` (whose wait
  looks the running loop up, a getpid() system call on CPython 3.11, each time).
- a disconnect hook (`DisconnectNotice`, in the scope's extensions) tells a handler the client
  is gone without a task of its own waiting in `receive`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE  # the same status lines, byte for byte
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

__all__ = ["Cycle", "default_head"]

ASGIApp = Callable[[Any, Any, Any], Awaitable[Any]]

# uvicorn's checks, kept for the server's own default headers (checked once a second, see
# `default_head`); the app's headers are checked for what matters on the wire, CR and LF.
_HEADER_NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')
_HEADER_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# What a cycle keeps of its scope once its app has returned.
_FINISHED: dict[str, Any] = {"type": "http", "method": "", "http_version": "", "path": "", "headers": []}
_DISCONNECT = {"type": "http.disconnect"}
_SERVER_ERROR_HEAD = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"21"),
    (b"connection", b"close"),
]
# Bodies smaller than this are copied after the head into one buffer; larger ones are handed to
# the transport beside it (one writev), not copied.
_COPY_LIMIT = 65536

_default_source: list[tuple[bytes, bytes]] | None = None
_default_bytes = b""


def default_head(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The server's default headers (date, server) as head lines. uvicorn's server replaces that
    list once a second, so its bytes are built once per list, not once per response."""
    global _default_source, _default_bytes
    if headers is not _default_source:
        lines = []
        for name, value in headers:
            if _HEADER_NAME.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if _HEADER_VALUE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            lines.append(name.lower() + b": " + value + b"\r\n")
        _default_bytes, _default_source = b"".join(lines), headers
    return _default_bytes


class Cycle:
    __slots__ = (
        "access_log",
        "access_logger",
        "buffered",
        "chunked",
        "chunks",
        "default_headers",
        "disconnected",
        "expected_length",
        "flow",
        "head_request",
        "keep_alive",
        "logger",
        "loop",
        "more_body",
        "on_disconnect",
        "on_response",
        "pending_head",
        "ready",
        "response_complete",
        "response_started",
        "scope",
        "transport",
        "waiters",
        "waiting_for_100_continue",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        transport: asyncio.Transport,
        flow: FlowControl,
        loop: asyncio.AbstractEventLoop,
        logger: logging.Logger,
        access_logger: logging.Logger,
        access_log: bool,
        default_headers: list[tuple[bytes, bytes]],
        expect_100_continue: bool,
        keep_alive: bool,
        on_response: Callable[[], None],
    ) -> None:
        self.scope = scope
        self.transport = transport
        self.flow = flow
        self.loop = loop
        self.logger = logger
        self.access_logger = access_logger
        self.access_log = access_log
        self.default_headers = default_headers
        self.on_response: Callable[[], None] | None = on_response
        self.on_disconnect: Callable[[], None] | None = None
        self.head_request = scope["method"] == "HEAD"

        self.disconnected = False
        self.keep_alive = keep_alive
        self.waiting_for_100_continue = expect_100_continue

        # Request: body chunks not yet received by the app; `ready` is the event uvicorn keeps
        # (something for a waiting receive), `waiters` the receives waiting for it.
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.more_body = True
        self.ready = False
        self.waiters: list[asyncio.Future[None]] = []

        # Response
        self.response_started = False
        self.response_complete = False
        self.chunked: bool | None = None
        self.expected_length = 0
        self.pending_head = b""

    def watch(self, callback: Callable[[], None]) -> bool:
        """`DisconnectNotice.watch`."""
        if self.disconnected or self.response_complete:
            return False
        self.on_disconnect = callback
        return True

    # What the connection tells the cycle

    def wake(self) -> None:
        self.ready = True
        waiters = self.waiters
        if waiters:
            self.waiters = []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def lost(self) -> None:
        """The client is gone (connection_lost)."""
        if not self.response_complete:
            self.disconnected = True
            callback, self.on_disconnect = self.on_disconnect, None
            if callback is not None:
                callback()
        self.wake()

    # Running the app

    async def run_asgi(self, app: ASGIApp) -> None:
        try:
            result = await app(self.scope, self.receive, self.send)
        except BaseException as exc:
            self.logger.error("Exception in ASGI application\n", exc_info=exc)
            if not self.response_started:
                await self.send_500_response()
            else:
                self._flush_head()
                self.transport.close()
        else:
            if result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
                self._flush_head()
                self.transport.close()
            elif not self.response_started and not self.disconnected:
                self.logger.error("ASGI callable returned without starting response.")
                await self.send_500_response()
            elif not self.response_complete and not self.disconnected:
                self.logger.error("ASGI callable returned without completing response.")
                self._flush_head()
                self.transport.close()
        finally:
            self.on_response = None
            self.on_disconnect = None
            # The scope holds this cycle (its disconnect notice): dropping the way back leaves no
            # reference cycle, so the request is freed at once, not by the cyclic collector.
            self.scope = _FINISHED

    async def send_500_response(self) -> None:
        await self.send({"type": "http.response.start", "status": 500, "headers": _SERVER_ERROR_HEAD})
        await self.send({"type": "http.response.body", "body": b"Internal Server Error", "more_body": False})

    def _flush_head(self) -> None:
        """A head held for its body goes out as uvicorn would have written it already."""
        head, self.pending_head = self.pending_head, b""
        if head and not self.transport.is_closing():
            self.transport.write(head)

    # ASGI interface

    async def receive(self) -> dict[str, Any]:
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(_CONTINUE)
            self.waiting_for_100_continue = False

        if not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            if not self.ready:
                waiter = self.loop.create_future()
                self.waiters.append(waiter)
                await waiter
            self.ready = False

        if self.disconnected or self.response_complete:
            return _DISCONNECT.copy()
        chunks = self.chunks
        self.buffered = 0
        if not chunks:
            body = b""
        elif len(chunks) == 1:
            body = chunks[0]
            self.chunks = []
        else:
            body = b"".join(chunks)
            self.chunks = []
        return {"type": "http.request", "body": body, "more_body": self.more_body}

    async def send(self, message: dict[str, Any]) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()

        if self.disconnected:
            return

        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
                )
            self.response_started = True
            self.waiting_for_100_continue = False
            self._start(message)
        elif not self.response_complete:
            if message["type"] != "http.response.body":
                raise RuntimeError(
                    f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
                )
            self._body(message.get("body", b""), message.get("more_body", False))
        else:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already completed."
            )

    def _start(self, message: dict[str, Any]) -> None:
        status = message["status"]
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(self.scope),  # type: ignore[arg-type]
                self.scope["method"],
                get_path_with_query_string(self.scope),  # type: ignore[arg-type]
                self.scope["http_version"],
                status,
            )
        lines: list[bytes] = []
        close_sent = False
        for name, value in message.get("headers", ()):
            name = name.lower()
            if name == b"content-length" and self.chunked is None:
                self.expected_length = int(value.decode())
                self.chunked = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_length = 0
                self.chunked = True
            elif name == b"connection" and b"close" in [t.lower().strip() for t in value.split(b",")]:
                self.keep_alive = False
                close_sent = True
            lines.append(name + b": " + value + b"\r\n")
        block = b"".join(lines)
        # Each line ends in the one CR LF put there; any other CR or LF came from a name or value.
        if block.count(b"\n") != len(lines) or block.count(b"\r") != len(lines):
            raise RuntimeError("Invalid HTTP header value.")
        tail = b"\r\n"
        if not self.keep_alive and not close_sent:
            tail = b"connection: close\r\n\r\n"
        if self.chunked is None and not self.head_request and status not in (204, 304):
            # Neither content-length nor transfer-encoding given: the body goes out chunked.
            self.chunked = True
            tail = tail[:-2] + b"transfer-encoding: chunked\r\n\r\n"
        # Held for the body, which mostly follows in the same step of the task (a whole answer):
        # then both leave in one write. If no body comes within this loop turn (a stream waiting
        # for its first event), the head goes alone then, as the client would have seen it.
        self.pending_head = STATUS_LINE[status] + default_head(self.default_headers) + block + tail
        self.loop.call_soon(self._flush_head)

    def _body(self, body: bytes, more_body: bool) -> None:
        head = self.pending_head
        if self.head_request:
            self.expected_length = 0
            data = b""
        elif self.chunked:
            if body:
                data = b"%x\r\n%b\r\n" % (len(body), body)
                if not more_body:
                    data += b"0\r\n\r\n"
            else:
                data = b"" if more_body else b"0\r\n\r\n"
        else:
            size = len(body)
            if size > self.expected_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_length -= size
            data = body
        if head:
            self.pending_head = b""
            if len(data) < _COPY_LIMIT:
                self.transport.write(head + data)
            else:
                self.transport.writelines((head, data))
        elif data:
            self.transport.write(data)

        if not more_body:
            if self.expected_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.on_disconnect = None
            self.wake()
            if not self.keep_alive:
                self.transport.close()
            if self.on_response is not None:
                self.on_response()
