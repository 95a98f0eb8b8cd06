"""Web hosts on loopback addresses and a scripted DNS, for the media-URL tests (no real DNS here).

A rebinding name answers a "public" address first and 127.0.0.1 next. The public one is
127.0.0.2, which the tests allow as public through `treat_as_public`; the canary on 127.0.0.1
listens on the same port, so a fetch that follows the second answer reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gemini_gateway import media_address

PUBLIC = "127.0.0.2"  # stands for a public address in these tests
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@dataclass(slots=True)
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hold: threading.Event | None = None  # the body waits for this, after the headers


class LoopbackHost:
    """A real HTTP(S) server on one loopback address; it answers `routes` and notes every request."""

    def __init__(self, address: str, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str]] = []  # (path, Host header)
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.requests.append((self.path, self.headers.get("Host", "")))
                route = host.routes.get(self.path, Route(404, b"not here"))
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                if route.hold is not None:
                    self.wfile.flush()
                    route.hold.wait(timeout=30)
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, content_type: str = "image/png") -> None:
        self.routes[path] = Route(200, body, {"Content-Type": content_type})

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = Route(status, b"", {"Location": location})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def canary_and_site(tls: ssl.SSLContext | None = None) -> Iterator[tuple[LoopbackHost, LoopbackHost]]:
    """A canary on 127.0.0.1 and a site on PUBLIC, on one port; the canary must stay unvisited."""
    canary = LoopbackHost("127.0.0.1", 0, tls)
    try:
        site = LoopbackHost(PUBLIC, canary.port, tls)
    except OSError:
        canary.close()
        raise
    try:
        yield canary, site
    finally:
        site.close()
        canary.close()


def treat_as_public(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """The test seam: let the guard count one loopback address as public, for this test only."""
    real = media_address.is_public
    monkeypatch.setattr(media_address, "is_public", lambda a: a == address or real(a))


class ScriptedDNS:
    """Successive answers for chosen names, through every asyncio loop's getaddrinfo (which both the
    gateway's resolver and aiohttp's default one call); the last answer repeats, other names go to
    the system."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]) -> None:
        self.answers = {name: list(seq) for name, seq in answers.items()}
        self.asked: list[str] = []
        system = asyncio.base_events.BaseEventLoop.getaddrinfo
        dns = self

        async def getaddrinfo(
            loop: asyncio.AbstractEventLoop,
            host: Any,
            port: Any,
            *,
            family: int = 0,
            type: int = 0,
            proto: int = 0,
            flags: int = 0,
        ) -> list[Any]:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name not in dns.answers:
                return await system(loop, host, port, family=family, type=type, proto=proto, flags=flags)  # type: ignore[arg-type]
            dns.asked.append(name)
            queue = dns.answers[name]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            out = []
            for address in addresses:
                ip = ipaddress.ip_address(address)
                af = socket.AF_INET if ip.version == 4 else socket.AF_INET6
                if family not in (0, af):
                    continue
                sockaddr = (address, int(port or 0)) if ip.version == 4 else (address, int(port or 0), 0, 0)
                out.append((af, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            if not out:
                raise socket.gaierror(socket.EAI_NONAME, "no such name")
            return out

        monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)


def self_signed_for(hostname: str, tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for `hostname`, client context trusting only it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client
