"""An HTTP/1.1 connection for uvicorn: `uvicorn.Config(http=HttpProtocol)`, or by its name,
"gemini_gateway.server.http:HttpProtocol".

It parses with httptools and behaves as uvicorn's `HttpToolsProtocol` (keep-alive, pipelined
requests answered in order, chunked and sized request bodies, `Expect: 100-continue`, HEAD,
HTTP/1.0, reading paused while the app does not take the body, the keep-alive timeout, 400 for a
malformed request, websocket upgrades handed to uvicorn's websocket protocol, graceful shutdown),
with the same bytes on the wire. What it spares per request:

- the scope: the path without `httptools.parse_url` when the target is a plain origin-form path
  (it still parses anything else), the method's string from a table, one `asgi` dict per
  connection;
- the keep-alive timer: one timer per connection that re-arms itself while the connection is in
  use, instead of a timer made after each response and cancelled by the next request's bytes;
- the request/response cycle (cycle.py): one write per sized answer, CR/LF checks in C, waits
  on bare futures, and a disconnect hook in place of a watcher task.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import urllib.parse
from collections import deque
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, FlowControl, service_unavailable
from uvicorn.protocols.utils import get_local_addr, get_remote_addr, is_ssl
from uvicorn.server import ServerState

from gemini_gateway.server.cycle import ASGIApp, Cycle
from gemini_gateway.server.notice import DISCONNECT_EXTENSION

__all__ = ["HttpProtocol"]

_METHODS = {name.encode(): name for name in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")}


class HttpProtocol(asyncio.Protocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.app: ASGIApp = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.logger = logging.getLogger("uvicorn.error")
        self.access_logger = logging.getLogger("uvicorn.access")
        self.access_log = self.access_logger.hasHandlers()
        self.parser = httptools.HttpRequestParser(self)
        # As uvicorn: answer the first of pipelined requests even when data follows a close.
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)

        self.ws_protocol_class = config.ws_protocol_class
        self.root_path = config.root_path
        self.asgi = {"version": config.asgi_version, "spec_version": "2.3"}
        self.limit_concurrency = config.limit_concurrency
        self.reset_contextvars = config.reset_contextvars
        self.app_state = app_state

        self.keep_alive_timer: asyncio.TimerHandle | None = None
        self.timeout_keep_alive = config.timeout_keep_alive
        self.idle_since: float | None = None  # when the last response completed, while idle

        self.server_state = server_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks

        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: FlowControl = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        self.pipeline: deque[tuple[Cycle, ASGIApp]] = deque()

        # The request being parsed
        self.scope: dict[str, Any] = None  # type: ignore[assignment]
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_100_continue = False
        self.upgrading = False
        self.cycle: Cycle | None = None

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.connections.add(self)  # type: ignore[arg-type]
        self.transport = transport
        self.flow = FlowControl(transport)
        self.server = get_local_addr(transport)
        self.client = get_remote_addr(transport)
        self.scheme = "https" if is_ssl(transport) else "http"
        if self.logger.level <= TRACE_LOG_LEVEL:
            self._trace("HTTP connection made")

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)
        if self.logger.level <= TRACE_LOG_LEVEL:
            self._trace("HTTP connection lost")
        if self.cycle is not None:
            self.cycle.lost()
        if self.flow is not None:
            self.flow.resume_writing()
        if exc is None:
            self.transport.close()
        self._stop_keep_alive_timer()
        self.parser = None  # type: ignore[assignment]

    def _trace(self, what: str) -> None:
        prefix = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        self.logger.log(TRACE_LOG_LEVEL, "%s%s", prefix, what)

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()

    def send_400_response(self, msg: str) -> None:
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(msg)).encode("ascii") + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
                msg.encode("ascii"),
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()

    # Websocket upgrade: handed to uvicorn's websocket protocol exactly as its httptools one does

    def _get_upgrade(self) -> bytes | None:
        connection: list[bytes] = []
        upgrade = None
        for name, value in self.headers:
            if name == b"connection":
                connection = [token.lower().strip() for token in value.split(b",")]
            if name == b"upgrade":
                upgrade = value.lower()
        if b"upgrade" in connection:
            return upgrade
        return None

    def _should_upgrade(self) -> bool:
        return self.ws_protocol_class is not None and self._get_upgrade() == b"websocket"

    def _unsupported_upgrade_warning(self) -> None:
        self.logger.warning("Unsupported upgrade request.")
        if self.ws_protocol_class is None:
            self.logger.warning(
                "No supported WebSocket library detected. Please use \"pip install 'uvicorn[standard]'\", "
                "or install 'websockets' or 'wsproto' manually."
            )

    def handle_websocket_upgrade(self) -> None:
        if self.logger.level <= TRACE_LOG_LEVEL:
            self._trace("Upgrading to WebSocket")
        self.connections.discard(self)
        output = [self.scope["method"].encode(), b" ", self.url, b" HTTP/1.1\r\n"]
        for name, value in self.scope["headers"]:
            output += [name, b": ", value, b"\r\n"]
        output.append(b"\r\n")
        assert self.ws_protocol_class is not None
        protocol = self.ws_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.app_state
        )
        protocol.connection_made(self.transport)
        protocol.data_received(b"".join(output))
        self.transport.set_protocol(protocol)

    # Parser callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.expect_100_continue = False
        self.upgrading = False
        self.headers = []
        self.scope = {
            "type": "http",
            "asgi": self.asgi,
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        scope = self.scope
        http_version = parser.get_http_version()
        method = parser.get_method()
        scope["method"] = _METHODS.get(method) or method.decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        if parser.should_upgrade() and self._should_upgrade():
            self.upgrading = True
            return
        url = self.url
        if url[:1] == b"/" and b"#" not in url:
            raw_path, _, query = url.partition(b"?")
        else:  # absolute-form, `*`, a fragment: httptools' own parser, as uvicorn
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path, parsed.query or b""
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        if self.root_path:
            scope["path"] = self.root_path + path
            scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        else:
            scope["path"] = path
            scope["raw_path"] = raw_path
        scope["query_string"] = query

        app = self.app
        limit = self.limit_concurrency
        if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")

        previous = self.cycle
        cycle = Cycle(
            scope,
            self.transport,
            self.flow,
            self.loop,
            self.logger,
            self.access_logger,
            self.access_log,
            self.server_state.default_headers,
            self.expect_100_continue,
            http_version != "1.0" and parser.should_keep_alive(),
            self.on_response_complete,
        )
        scope["extensions"] = {DISCONNECT_EXTENSION: cycle}
        self.cycle = cycle
        if previous is None or previous.response_complete:
            self._start_asgi_task(cycle, app)
        else:
            # Pipelined: answered in order, once the one before has its response out.
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, app))

    def _start_asgi_task(self, cycle: Cycle, app: ASGIApp) -> None:
        if self.reset_contextvars:
            # uvicorn's opt-in workaround for context leaking between tasks (cpython#140947).
            task = self.loop.create_task(cycle.run_asgi(app), context=contextvars.Context())
        else:
            task = self.loop.create_task(cycle.run_asgi(app))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if self.upgrading or cycle is None or cycle.response_complete:
            return
        cycle.chunks.append(body)
        cycle.buffered += len(body)
        if cycle.buffered > HIGH_WATER_LIMIT:
            self.flow.pause_reading()  # until the app takes it (receive resumes reading)
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.cycle
        if self.upgrading or cycle is None or cycle.response_complete:
            return
        cycle.more_body = False
        cycle.wake()

    def on_response_complete(self) -> None:
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self.idle_since = self.loop.time()
            if self.keep_alive_timer is None:
                self.keep_alive_timer = self.loop.call_later(
                    self.timeout_keep_alive, self._keep_alive_expired
                )

    # Keep-alive: one timer per connection; when it fires on a connection that was busy or has
    # not been idle long enough, it is set again for the rest (or left off until the next response).

    def _keep_alive_expired(self) -> None:
        self.keep_alive_timer = None
        idle_since = self.idle_since
        if idle_since is None or self.transport.is_closing():
            return
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self.keep_alive_timer = self.loop.call_later(left, self._keep_alive_expired)
        else:
            self.transport.close()

    def _stop_keep_alive_timer(self) -> None:
        if self.keep_alive_timer is not None:
            self.keep_alive_timer.cancel()
            self.keep_alive_timer = None

    # Server and transport

    def shutdown(self) -> None:
        """Called by the server to start a graceful shutdown."""
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()
