"""The gateway's transports, built once at start-up from settings: which implementation serves
which calls is decided here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gemini_gateway.transport.base import Transport
from gemini_gateway.transport.http1 import Http1Transport
from gemini_gateway.transport.lazy import LazyAiohttpTransport

if TYPE_CHECKING:
    from gemini_gateway.transport.aiohttp_transport import AiohttpTransport


@dataclass(slots=True)
class Transports:
    # Everything: Code Assist, OAuth, Files API and cached contents (streamed uploads), admin
    # checks, media URLs (whose pinned addresses need aiohttp's connector; see remote_media).
    # Made on its first use: serving API-key model calls needs no aiohttp (transport.lazy).
    http: LazyAiohttpTransport
    # Model calls of API keys and Vertex express keys, the hottest path: the lean HTTP/1 client on
    # direct connections, the aiohttp session through a proxy (the lean client speaks to origins only).
    models: Transport
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    # A credential's own proxy (CREDENTIAL_PROXIES, `key|proxy`): one aiohttp session per distinct
    # proxy URL, made on its first use and shared by every credential that names it.
    proxied: dict[str, AiohttpTransport] = field(default_factory=dict)

    def via(self, proxy: str) -> AiohttpTransport:
        """The transport that sends everything through `proxy` (http://, https://, socks5://)."""
        transport = self.proxied.get(proxy)
        if transport is None:
            from gemini_gateway.transport.aiohttp_transport import AiohttpTransport  # see Transports.http

            transport = self.proxied[proxy] = AiohttpTransport.create(
                proxy=proxy, connect_timeout=self.connect_timeout, read_timeout=self.read_timeout
            )
        return transport

    async def aclose(self) -> None:
        for transport in self.proxied.values():
            await transport.aclose()
        self.proxied.clear()
        if self.models is not self.http:
            await self.models.aclose()
        await self.http.aclose()


def build_transports(*, proxy: str | None, connect_timeout: float, read_timeout: float) -> Transports:
    http = LazyAiohttpTransport(proxy=proxy, connect_timeout=connect_timeout, read_timeout=read_timeout)
    models: Transport = http
    if not proxy:
        models = Http1Transport(connect_timeout=connect_timeout, read_timeout=read_timeout)
    return Transports(http=http, models=models, connect_timeout=connect_timeout, read_timeout=read_timeout)


def redact_proxy(proxy: str | None) -> str | None:
    """A proxy URL for logs and the UI: user and password removed."""
    if not proxy:
        return proxy
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    auth = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{auth}{host}{port}"
