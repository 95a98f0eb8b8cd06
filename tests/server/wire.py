"""Raw HTTP/1.1 over loopback sockets for the protocol tests: a server in a thread with a chosen
protocol class, and a client that reads responses byte for byte."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from gemini_gateway.server.http import HttpProtocol
from tests.servers import running

DATE_LINE = re.compile(rb"\r\ndate: [^\r\n]*\r\n")
# The two protocols under test: the gateway's own and uvicorn's httptools one, its reference.
PROTOCOLS: dict[str, Any] = {"lean": HttpProtocol, "httptools": "httptools"}


class Served:
    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.port = port

    def connect(self, timeout: float = 10) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


@contextlib.contextmanager
def serve(app: Any, http: Any = HttpProtocol, **options: Any) -> Iterator[Served]:
    """`app` on a free loopback port under uvicorn with protocol `http` (uvloop, as `serve`)."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop="uvloop",
        http=http,
        lifespan="off",
        log_level="critical",
        access_log=False,
        proxy_headers=False,  # as `serve`: the app under test decides what proxies may say
        **options,
    )
    server = uvicorn.Server(config)
    with running(server) as port:
        yield Served(server, port)


class Reader:
    """Reads whole HTTP responses off a socket, keeping the exact bytes of each."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def wait_for(self, marker: bytes) -> None:
        """Read until `marker` is in the buffer, leaving it there."""
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}: {self.buffer!r}")

    def _take_until(self, marker: bytes) -> bytes:
        self.wait_for(marker)
        end = self.buffer.index(marker) + len(marker)
        taken, self.buffer = self.buffer[:end], self.buffer[end:]
        return taken

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buffer)} of {size} bytes")
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    def response(self, head_request: bool = False) -> bytes:
        """The next response, head and body, as sent (an interim 100 Continue is one of its own)."""
        head = self._take_until(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        status = int(lines[0].split()[1])
        if head_request or status in (100, 204, 304):
            return head
        length = next(
            (int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length:")), None
        )
        if length is not None:
            return head + self._take(length)
        if b"transfer-encoding: chunked" in lines:
            body = b""
            while True:
                size_line = self._take_until(b"\r\n")
                body += size_line
                size = int(size_line.strip(), 16)
                body += self._take(size + 2)
                if size == 0:
                    return head + body
        while self._fill():  # neither: the body runs to the close
            pass
        body, self.buffer = self.buffer, b""
        return head + body

    def closed(self, timeout: float = 5) -> bool:
        """True if the server closes the connection (nothing more sent) within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            return not self._fill()
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def exchange(served: Served, *requests: bytes, head_request: bool = False) -> list[bytes]:
    """Send `requests` back to back on one connection (pipelined) and read one response each."""
    with served.connect() as sock:
        sock.sendall(b"".join(requests))
        reader = Reader(sock)
        return [reader.response(head_request) for _ in requests]


def undated(response: bytes) -> bytes:
    """The response with its Date header's value blanked (the two servers' clocks tick apart)."""
    return DATE_LINE.sub(b"\r\ndate: -\r\n", response, count=1)
