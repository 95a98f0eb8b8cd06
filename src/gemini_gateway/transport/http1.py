"""A lean keep-alive HTTP/1.1 client for model calls, the gateway's hottest path.

aiohttp's per-request machinery (URL objects, header multidicts, cookie jar, timers, tracing)
costs more CPU than everything else the gateway does for a call: measured with bench/-style
loops on one core, about 415 µs of client CPU per call against 135 µs for this client, which
only writes the request and parses the answer with httptools (llhttp, the parser uvicorn uses).
It serves direct connections to the upstream's origin; with UPSTREAM_PROXY set, and for the
Files API and everything else, calls go through the shared aiohttp session as before.

Inside, a connection that fails or ends before the answer is complete raises `UpstreamClosed`,
and a wait longer than the connect or read timeout `TimeoutError`; the `Transport` methods turn
both into the gateway's errors (`transport.base` says which). A request on a reused idle
connection that the server closed meanwhile (before any byte of an answer) is sent once more on
a new connection: the server never saw it. A body streamed from an async iterator always goes on
a new connection (it cannot be sent twice), chunked unless the caller gives its content-length.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

from gemini_gateway.errors import StreamCut, UpstreamClosed, UpstreamUnreachable
from gemini_gateway.transport.base import Body

IDLE_SECONDS = 30.0  # an idle connection older than this is closed rather than reused
MAX_IDLE_PER_ORIGIN = 256
HIGH_WATER = 1 << 20  # bytes of unread answer after which the socket stops being read
MAX_KNOWN_URLS = 1024  # URLs whose origin and target are kept (`Http1Transport._target`)


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> tuple[Origin, str]:
        """The origin of `url` and the request target (path and query) to send to it."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port), target

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _unreachable(exc: TimeoutError | UpstreamClosed) -> UpstreamUnreachable:
    if isinstance(exc, TimeoutError):
        return UpstreamUnreachable("the upstream did not answer in time", status_code=504)
    return UpstreamUnreachable(f"could not reach the upstream ({exc})")


def _cut(exc: TimeoutError | UpstreamClosed) -> StreamCut:
    if isinstance(exc, TimeoutError):
        return StreamCut("the upstream stream stalled", status_code=504)
    return StreamCut(f"the upstream stream was cut ({exc or type(exc).__name__})")


@dataclass(slots=True)
class Response:
    """Both a `Reply` (once `request` read its body) and a `Streamed` (from `stream`)."""

    status: int
    headers: dict[str, str]  # names in lower case; repeated headers joined with ", "
    _connection: _Connection = field(repr=False)
    body: bytes = field(default=b"", repr=False)
    _released: bool = field(default=False, repr=False)

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks(cut=True)

    async def read(self) -> bytes:
        try:
            return await self._read()
        except (TimeoutError, UpstreamClosed) as exc:
            raise _unreachable(exc) from exc

    async def _read(self) -> bytes:
        body = self._arrived()
        if body is not None:
            return body
        chunks = [chunk async for chunk in self._chunks(cut=False)]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _arrived(self) -> bytes | None:
        """The whole body if it has all arrived uncompressed (as a small answer does, with its
        head), the connection given back; else None, and the body is read as it comes."""
        if "content-encoding" in self.headers:
            return None
        body = self._connection.whole_body()
        if body is not None:
            self.close()
        return body

    async def _chunks(self, *, cut: bool) -> AsyncIterator[bytes]:
        """The body as it arrives (decompressed if the server compressed it anyway); a failure as
        `StreamCut` if `cut`, else as it is (the caller translates)."""
        connection = self._connection
        encoding = self.headers.get("content-encoding", "identity").lower()
        try:
            try:
                inflate = _decompressor(encoding)
                while True:
                    chunk = await connection.next_chunk()
                    if chunk is None:
                        break
                    if inflate is not None:
                        chunk = inflate.decompress(chunk)
                    if chunk:
                        yield chunk
                if inflate is not None:
                    tail = inflate.flush()
                    if tail:
                        yield tail
            except zlib.error as exc:
                connection.close()
                raise UpstreamClosed(f"the upstream sent a broken {encoding} body") from exc
        except (TimeoutError, UpstreamClosed) as exc:
            if cut:
                raise _cut(exc) from exc
            raise
        finally:
            self.close()

    def close(self) -> None:
        """Give the connection back if the answer was read whole, else close it. Idempotent:
        once given back, the connection may already carry another request."""
        if not self._released:
            self._released = True
            self._connection.finish()


def _decompressor(encoding: str) -> zlib._Decompress | None:
    if encoding in ("identity", ""):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise UpstreamClosed(f"the upstream answered with an unsupported content-encoding {encoding!r}")


class _Connection(asyncio.Protocol):
    """One socket; one request at a time; httptools parses the answers."""

    def __init__(
        self,
        client: Http1Transport,
        origin: Origin,
        idle: deque[_Connection],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.client = client
        self.origin = origin
        self.idle = idle  # where the client keeps this origin's idle connections
        # Its loop, known once: each get_running_loop() costs a getpid() system call on CPython 3.11.
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = time.monotonic()
        self.closed = False
        self._headers: dict[str, str] = {}
        self._head: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._more: asyncio.Future[None] | None = None
        # One timer for the read timeouts of the answers on this connection, moved on lazily (see
        # `_stalled`): a wait only sets its deadline, where a timer per wait would be made and
        # cancelled on the path of every call (and every read of a stream).
        self._stall_at = 0.0
        self._stall_timer: asyncio.TimerHandle | None = None
        self._complete = False
        self._keep_alive = False
        self.received = False  # any byte of an answer: a failed reused connection is not retried then
        self._error: BaseException | None = None
        self._paused = False
        self._writable: asyncio.Future[None] | None = None  # set while the socket's buffer is full
        self.read_timeout = client.read_timeout

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance check here.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamClosed(f"the upstream sent a malformed answer ({exc})"))
            self.close()
            return
        # Once per read, not per HTTP chunk: a read often holds many (a stream's events).
        if self._chunks:
            if self._buffered > HIGH_WATER and self.transport is not None and not self._paused:
                self._paused = True
                self.transport.pause_reading()
            self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost reports what was missing

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.resume_writing()  # a sender waiting to write learns of the end from `closed`
        if exc is None and self._reads_to_close():
            self.on_message_complete()  # a body without length or chunks ends with the connection
        if not self._complete:
            detail = f": {exc}" if exc else ""
            self._fail(
                UpstreamClosed(f"the upstream closed the connection before the answer was complete{detail}")
            )

    def _reads_to_close(self) -> bool:
        return (
            self._head is not None
            and self._head.done()
            and "content-length" not in self._headers
            and "chunked" not in self._headers.get("transfer-encoding", "")
        )

    # -- httptools callbacks --------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)

    def on_message_complete(self) -> None:
        self._complete = True
        self._keep_alive = self.parser.should_keep_alive()  # llhttp forgets it once the message ends
        self._wake()

    # -- the client's side ----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._more is not None and not self._more.done():
            self._more.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self._error = error
        for waiter in (self._head, self._more):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    async def send(self, head: bytes, body: Body, read_timeout: float, *, chunked: bool = False) -> Response:
        assert self.transport is not None
        self._headers, self._chunks, self._buffered = {}, deque(), 0
        self._complete = self.received = False
        self._error = None
        self.read_timeout = read_timeout
        self._head = head_read = self.loop.create_future()
        if isinstance(body, bytes):
            self.transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.transport.write(body)
        else:
            await self._send_streamed(head, body, chunked)
        if not head_read.done():
            self._wait_until(self.loop.time() + read_timeout)
        await head_read
        return Response(self.parser.get_status_code(), self._headers, self)

    async def _send_streamed(self, head: bytes, body: AsyncIterable[bytes], chunked: bool) -> None:
        """Write the body as it comes, waiting whenever the socket's buffer is full."""
        assert self.transport is not None
        self.transport.write(head)
        async for chunk in body:
            if self.closed:
                break  # the upstream answered (or failed) early: its answer says what happened
            if chunk:
                self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            if self._writable is not None:
                await self._writable
        if chunked and not self.closed:
            self.transport.write(b"0\r\n\r\n")

    async def next_chunk(self) -> bytes | None:
        """All of the body that has arrived since the last call (waiting for some), or None at its end.

        Whole, not one HTTP chunk at a time: a read often holds many chunks (a stream's events), and
        handing them over together lets the relay parse and send them together.
        """
        while not self._chunks:
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            # Not `asyncio.timeout` per wait, which makes and cancels a timer for each read of a
            # stream: the deadline moves on, and the one timer looks at it when it fires.
            loop = self.loop
            self._more = more = loop.create_future()
            self._wait_until(loop.time() + self.read_timeout)
            await more
        chunk = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return chunk

    def whole_body(self) -> bytes | None:
        """The body if all of it has arrived (as a small answer does, with its head), else None.
        Spares a unary call the chunk-by-chunk loop, which is for bodies still arriving."""
        if not self._complete or self._paused:
            return None
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        return body

    def _wait_until(self, deadline: float) -> None:
        """A wait for the answer's head or more of its body fails with TimeoutError at `deadline`."""
        self._stall_at = deadline
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_at(deadline, self._stalled)

    def _stalled(self) -> None:
        """The read timeout's timer: a wait past its deadline fails, one still within it is looked
        at again then; no wait, no timer (the next wait starts one). It outlives the answer it was
        started for (the connection, given back, may carry the next request before it fires)."""
        self._stall_timer = None
        waiter = self._head if self._head is not None and not self._head.done() else self._more
        if waiter is None or waiter.done():
            return
        if self.loop.time() < self._stall_at:
            self._stall_timer = self.loop.call_at(self._stall_at, self._stalled)
        else:
            waiter.set_exception(TimeoutError())

    def _stop_timer(self) -> None:
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def finish(self) -> None:
        if self._complete and self._keep_alive and not self._chunks and not self.closed:
            self.client._put_back(self)  # its timer stays: see `_stalled`
        else:
            self.close()

    def close(self) -> None:
        self.closed = True
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()


# What `Http1Transport._target` knows of a URL: origin, request target, Host header, and the
# origin's idle connections (so that a call need not hash an Origin to find them, twice).
_Target = tuple[Origin, str, str, deque[_Connection]]


class Http1Transport:
    """The lean `Transport`: direct connections to an origin, no proxy."""

    def __init__(self, *, connect_timeout: float, read_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._targets: dict[str, _Target] = {}  # see `_target`
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        total_timeout: float | None = None,
    ) -> Response:
        try:
            if total_timeout is None:
                response = await self._send(method, url, headers, body, self.read_timeout)
                # Most answers are whole already: taken without a coroutine for `_read`.
                arrived = response._arrived()
                response.body = arrived if arrived is not None else await response._read()
            else:
                async with asyncio.timeout(total_timeout):
                    response = await self._send(method, url, headers, body, self.read_timeout)
                    response.body = await response._read()
        except (TimeoutError, UpstreamClosed) as exc:
            raise _unreachable(exc) from exc
        return response

    async def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        read_timeout: float | None = None,
    ) -> Response:
        try:
            return await self._send(method, url, headers, body, read_timeout or self.read_timeout)
        except (TimeoutError, UpstreamClosed) as exc:
            raise _unreachable(exc) from exc

    async def _send(
        self, method: str, url: str, headers: Mapping[str, str], body: Body, read_timeout: float
    ) -> Response:
        """Send one request; the caller reads the answer and must `close()` it (or read it whole)."""
        origin, target, host, idle = self._target(url)
        lines = [f"{method} {target} HTTP/1.1", f"host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        streamed = not isinstance(body, bytes)
        chunked = streamed and not any(name.lower() == "content-length" for name in headers)
        if chunked:
            lines.append("transfer-encoding: chunked")
        elif isinstance(body, bytes) and (body or method in ("POST", "PUT", "PATCH")):
            lines.append(f"content-length: {len(body)}")
        text = "\r\n".join(lines)
        # The joins put len(lines) - 1 of each in; any more came in a header (the request line and
        # host are checked in `_target`). Two scans of the text, not a generator over the headers.
        breaks = len(lines) - 1
        if text.count("\n") != breaks or text.count("\r") != breaks:
            raise UpstreamClosed("refused to send a header with a line break in it")
        try:
            head = (text + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError as exc:
            raise UpstreamClosed("refused to send a header that is not latin-1 text") from exc
        connection = None if streamed else self._take_idle(idle)
        if connection is not None:
            try:
                return await connection.send(head, body, read_timeout)
            except UpstreamClosed:
                connection.close()
                if connection.received:
                    raise
                # Closed by the server while idle: it never saw this request; send it afresh.
            except BaseException:
                connection.close()  # a timeout or a cancel: its answer may still come, unwanted
                raise
        connection = await self._connect(origin, idle)
        try:
            return await connection.send(head, body, read_timeout, chunked=chunked)
        except BaseException:
            connection.close()
            raise

    def _target(self, url: str) -> _Target:
        """The origin of `url`, its request target, Host header and idle connections; a model call's
        URL repeats on every call (the model and method in its path), so they are worked out once
        per URL."""
        known = self._targets.get(url)
        if known is not None:
            return known
        if not (url.isascii() and url.isprintable()) or " " in url:
            # urlsplit would drop tabs and line breaks silently, and a space splits the request line.
            raise UpstreamClosed("refused to send a URL with a space, control or non-ASCII character")
        origin, target = Origin.of(url)
        if len(self._targets) >= MAX_KNOWN_URLS:
            self._targets.clear()
        idle = self._idle.get(origin)
        if idle is None:
            idle = self._idle[origin] = deque()
        known = self._targets[url] = (origin, target, origin.host_header, idle)
        return known

    def _take_idle(self, idle: deque[_Connection]) -> _Connection | None:
        now = time.monotonic()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to be timed out
            if connection.closed or now - connection.idle_since > IDLE_SECONDS:
                connection.close()
                continue
            return connection
        return None

    def _put_back(self, connection: _Connection) -> None:
        idle = connection.idle
        if self._closed or len(idle) >= MAX_IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    async def _connect(self, origin: Origin, idle: deque[_Connection]) -> _Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, origin, idle, loop),
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context else None,
                )
        except OSError as exc:
            raise UpstreamClosed(f"could not connect to {origin.host_header} ({exc})") from exc
        return connection

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
