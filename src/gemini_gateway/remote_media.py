"""Fetching media that clients reference by http(s) URL, safely.

The gateway fetches on the client's behalf, so a URL must not reach into the gateway's own
network (loopback, private ranges, link-local metadata services) unless the operator allows it,
and a download is capped in size and time so one request cannot exhaust the gateway.

A name is resolved once per hop and every address it answers is vetted; the request then goes
to a vetted address itself, with the original name in the Host header and as the TLS server
name (SNI and certificate check). The HTTP client never resolves the name again, so a DNS answer
that changes between the check and the connection (rebinding) cannot steer the fetch inward.
This also holds through a configured proxy, which is handed the address, not the name.
Redirects are followed here, each hop checked the same way, up to MAX_REDIRECTS.

Unlike every other upstream call, this one uses the aiohttp transport's session itself, not the
`Transport` protocol: a request to a pinned address with another name as TLS server name, and a
connection closed rather than pooled after each hop, are this module's needs alone.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from yarl import URL

from gemini_gateway import media_address
from gemini_gateway.dialects.media import RemoteImage, mime_for_filename
from gemini_gateway.errors import RequestError
from gemini_gateway.transport.aiohttp_transport import AiohttpTransport

FETCH_SECONDS = 30.0  # one media URL, all hops and DNS included
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Hop:
    """One request of a fetch: the URL to request and the name it stands for (None: as is)."""

    url: URL
    host_header: str | None = None
    server_hostname: str | None = None


async def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver answers for `host`, in its order."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RequestError(f"could not resolve the media URL host '{host}'") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def host_header(url: URL) -> str:
    """What a client sends as Host for `url`: the name, bracketed if IPv6, and a non-default port."""
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    port = url.port
    return host if port is None or port == _DEFAULT_PORTS.get(url.scheme) else f"{host}:{port}"


def pinned_hops(url: URL, addresses: Sequence[str]) -> list[Hop]:
    """Requests for `url` sent to each of `addresses`, or RequestError if any of them is not public.

    All must be public, not just one: which one a client would use is not ours to predict."""
    host = url.raw_host or ""
    if not addresses or not all(media_address.is_public(address) for address in addresses):
        raise RequestError(
            f"media URL host '{host}' is a loopback or private address; the gateway does not fetch those "
            "(set ALLOW_PRIVATE_MEDIA_URLS=true to allow it)"
        )
    sni = host if url.scheme == "https" else None
    # with_host brackets IPv6; the scope of a scoped address (fe80::1%eth0) never gets here.
    return [Hop(url.with_host(address), host_header(url), sni) for address in addresses]


def _checked_url(url: URL) -> URL:
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise RequestError(f"unsupported media URL '{str(url)[:100]}'")
    return url.with_fragment(None)


async def _hops(url: URL, allow_private: bool) -> list[Hop]:
    if allow_private:
        return [Hop(url)]
    return pinned_hops(url, await resolve(url.raw_host or "", url.port or 0))


async def _request(http: AiohttpTransport, hops: Sequence[Hop]) -> aiohttp.ClientResponse:
    """The response from the first address that accepts a connection."""
    failure: aiohttp.ClientConnectorError | None = None
    for hop in hops:
        headers = {"Host": hop.host_header} if hop.host_header else None
        try:
            return await http.session.get(
                hop.url,
                headers=headers,
                server_hostname=hop.server_hostname,
                allow_redirects=False,
                proxy=http.proxy,
            )
        except aiohttp.ClientConnectorError as exc:
            failure = exc
    assert failure is not None
    raise failure


async def _read(response: aiohttp.ClientResponse, url: URL, max_bytes: int) -> tuple[str, str]:
    if response.status >= 400:
        raise RequestError(f"fetching the media URL answered HTTP {response.status}")
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise RequestError(f"the media at the URL is larger than the {max_bytes} byte limit", status_code=413)
    data = bytearray()
    async for chunk in response.content.iter_chunked(65536):
        data += chunk
        if len(data) > max_bytes:
            raise RequestError(
                f"the media at the URL is larger than the {max_bytes} byte limit", status_code=413
            )
    mime = response.headers.get("content-type", "").split(";")[0].strip()
    if not mime or mime == "application/octet-stream":
        mime = mime_for_filename(url.path.rsplit("/", 1)[-1], "image/jpeg")
    return mime, base64.b64encode(bytes(data)).decode()


async def _fetch(http: AiohttpTransport, url: URL, max_bytes: int, allow_private: bool) -> tuple[str, str]:
    for _ in range(MAX_REDIRECTS + 1):
        url = _checked_url(url)
        response = await _request(http, await _hops(url, allow_private))
        try:
            if response.status not in REDIRECT_STATUSES:
                return await _read(response, url, max_bytes)
            location = response.headers.get("Location")
            if not location:
                raise RequestError(f"the media URL answered HTTP {response.status} without a Location")
            url = url.join(URL(location))
        finally:
            # Closed, not released to the pool: a connection made to an address for one name is
            # never handed to a request for another.
            response.close()
    raise RequestError(f"the media URL redirected more than {MAX_REDIRECTS} times")


async def fetch_media(
    http: AiohttpTransport, url: str, *, max_bytes: int, allow_private: bool
) -> tuple[str, str]:
    """Download `url`; returns (mime type, base64 data) or raises RequestError (400/413)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise RequestError(f"unsupported media URL '{url[:100]}'") from exc
    try:
        async with asyncio.timeout(FETCH_SECONDS):
            return await _fetch(http, parsed, max_bytes, allow_private)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise RequestError(f"could not fetch the media URL ({type(exc).__name__})") from exc


async def fetch_all(
    http: AiohttpTransport, images: Sequence[RemoteImage], *, max_bytes: int, allow_private: bool
) -> dict[str, tuple[str, str]]:
    urls = list(dict.fromkeys(image.url for image in images))
    results = await asyncio.gather(
        *(fetch_media(http, url, max_bytes=max_bytes, allow_private=allow_private) for url in urls)
    )
    return dict(zip(urls, results, strict=True))
