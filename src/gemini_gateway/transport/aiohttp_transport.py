"""The one shared upstream HTTP session (keep-alive, optional proxy), built in the app lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import orjson

from gemini_gateway.transport.http1 import Http1Client


@dataclass(slots=True)
class UpstreamHTTP:
    session: aiohttp.ClientSession
    proxy: str | None  # for http(s) proxies, given per request; socks proxies live in the connector
    fast: Http1Client | None = None  # model calls on direct connections (see transport.http1)

    async def aclose(self) -> None:
        if self.fast is not None:
            await self.fast.aclose()
        await self.session.close()


def create_upstream_http(*, proxy: str | None, connect_timeout: float, read_timeout: float) -> UpstreamHTTP:
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
    request_proxy: str | None = None
    connector: aiohttp.BaseConnector
    if proxy and urlsplit(proxy).scheme.startswith("socks"):
        from aiohttp_socks import ProxyConnector

        connector = ProxyConnector.from_url(proxy, limit=0, ttl_dns_cache=300)
    else:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        request_proxy = proxy or None
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
        json_serialize=lambda obj: orjson.dumps(obj).decode(),
    )
    fast = None if proxy else Http1Client(connect_timeout=connect_timeout, read_timeout=read_timeout)
    return UpstreamHTTP(session=session, proxy=request_proxy, fast=fast)


def redact_proxy(proxy: str | None) -> str | None:
    """A proxy URL for logs and the UI: user and password removed."""
    if not proxy:
        return proxy
    parts = urlsplit(proxy)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    auth = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{auth}{host}{port}"
