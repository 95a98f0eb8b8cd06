"""The gateway's transports, built once at start-up from settings: which implementation serves
which calls is decided here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from gemini_gateway.transport.aiohttp_transport import AiohttpTransport
from gemini_gateway.transport.base import Transport
from gemini_gateway.transport.http1 import Http1Transport


@dataclass(slots=True)
class Transports:
    # Everything: Code Assist, OAuth, Files API and cached contents (streamed uploads), admin
    # checks, media URLs (whose pinned addresses need aiohttp's connector; see remote_media).
    http: AiohttpTransport
    # Model calls of API keys and Vertex express keys, the hottest path: the lean HTTP/1 client on
    # direct connections, the aiohttp session through a proxy (the lean client speaks to origins only).
    models: Transport

    async def aclose(self) -> None:
        if self.models is not self.http:
            await self.models.aclose()
        await self.http.aclose()


def build_transports(*, proxy: str | None, connect_timeout: float, read_timeout: float) -> Transports:
    http = AiohttpTransport.create(proxy=proxy, connect_timeout=connect_timeout, read_timeout=read_timeout)
    if proxy:
        return Transports(http=http, models=http)
    return Transports(
        http=http, models=Http1Transport(connect_timeout=connect_timeout, read_timeout=read_timeout)
    )


def redact_proxy(proxy: str | None) -> str | None:
    """A proxy URL for logs and the UI: user and password removed."""
    if not proxy:
        return proxy
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    auth = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{auth}{host}{port}"
