"""Fetching media that clients reference by http(s) URL, safely.

The gateway fetches on the client's behalf, so a URL must not reach into the gateway's own
network (loopback, private ranges, link-local metadata services) unless the operator allows it,
and a download is capped so one request cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp

from gemini_gateway.backends.http_client import UpstreamHTTP
from gemini_gateway.dialects.media import RemoteImage, mime_for_filename
from gemini_gateway.errors import RequestError


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


async def _check_host(host: str, port: int) -> None:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise RequestError(f"could not resolve the media URL host '{host}'") from exc
    if any(_is_internal(str(info[4][0])) for info in infos):
        raise RequestError(
            f"media URL host '{host}' is a loopback or private address; the gateway does not fetch those "
            "(set ALLOW_PRIVATE_MEDIA_URLS=true to allow it)"
        )


async def fetch_media(
    http: UpstreamHTTP, url: str, *, max_bytes: int, allow_private: bool
) -> tuple[str, str]:
    """Download `url`; returns (mime type, base64 data) or raises RequestError (400/413)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError(f"unsupported media URL '{url[:100]}'")
    if not allow_private:
        await _check_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    try:
        async with http.session.get(
            url, timeout=aiohttp.ClientTimeout(total=30), allow_redirects=allow_private, proxy=http.proxy
        ) as response:
            if response.status >= 400:
                raise RequestError(f"fetching the media URL answered HTTP {response.status}")
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise RequestError(
                    f"the media at the URL is larger than the {max_bytes} byte limit", status_code=413
                )
            data = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                data += chunk
                if len(data) > max_bytes:
                    raise RequestError(
                        f"the media at the URL is larger than the {max_bytes} byte limit", status_code=413
                    )
            mime = response.headers.get("content-type", "").split(";")[0].strip()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RequestError(f"could not fetch the media URL ({type(exc).__name__})") from exc
    if not mime or mime == "application/octet-stream":
        mime = mime_for_filename(parts.path.rsplit("/", 1)[-1], "image/jpeg")
    return mime, base64.b64encode(bytes(data)).decode()


async def fetch_all(
    http: UpstreamHTTP, images: Sequence[RemoteImage], *, max_bytes: int, allow_private: bool
) -> dict[str, tuple[str, str]]:
    urls = list(dict.fromkeys(image.url for image in images))
    results = await asyncio.gather(
        *(fetch_media(http, url, max_bytes=max_bytes, allow_private=allow_private) for url in urls)
    )
    return dict(zip(urls, results, strict=True))
