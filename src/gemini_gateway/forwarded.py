"""Behind a reverse proxy: the scheme and host the client used, believed only from trusted proxies.

uvicorn's `ProxyHeadersMiddleware` takes the scheme (`X-Forwarded-Proto`) and the client address
(`X-Forwarded-For`) from peers listed in `FORWARDED_ALLOW_IPS`, but leaves the Host header alone,
so an address the gateway builds for the browser (the OAuth callback) would name the proxy's
upstream, e.g. `127.0.0.1:8000`. `TrustedProxies` adds, for the same peers, the host from
`X-Forwarded-Host` and the host and proto from RFC 7239 `Forwarded`, then hands over to uvicorn's
middleware. It has to run first: uvicorn's replaces the peer address trust is judged by.

Proxies append to these headers; only the right-most value, the one the trusted peer itself
added, is believed. `X-Forwarded-*` wins over `Forwarded` where both are sent.
"""

from __future__ import annotations

import re
from typing import Any, cast

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

__all__ = ["DEFAULT_TRUSTED", "TrustedProxies", "forwarded_element"]

DEFAULT_TRUSTED = "127.0.0.1,::1"  # uvicorn's own default for FORWARDED_ALLOW_IPS
# A host name, an IPv4 address or a bracketed IPv6 one, with an optional port: nothing that could
# carry a path, user info or a second URL into the addresses built from it.
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_PAIR = re.compile(r'\s*([A-Za-z]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s"]*)\s*([;,]|$)')
_ESCAPE = re.compile(r"\\(.)")
_SCHEMES = {"http": "ws", "https": "wss"}
# What a proxy says: this module's two and uvicorn's two (X-Forwarded-Proto, X-Forwarded-For).
_PROXY_HEADERS = frozenset((b"x-forwarded-host", b"forwarded", b"x-forwarded-proto", b"x-forwarded-for"))


def forwarded_element(value: str) -> dict[str, str]:
    """The last element of an RFC 7239 `Forwarded` value, as lower-case name -> value; {} if malformed."""
    element: dict[str, str] = {}
    position = 0
    while position < len(value):
        match = _PAIR.match(value, position)
        if match is None or match.end() == position:
            return {}
        name, raw, separator = match.groups()
        if raw.startswith('"'):
            raw = _ESCAPE.sub(r"\1", raw[1:-1])
        element[name.lower()] = raw
        if separator == ",":
            element = {}
        position = match.end()
    return element


def _last(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


class TrustedProxies:
    """Plain ASGI middleware: the public Host header and scheme from a trusted proxy's headers.

    A request that carries none of the proxy headers (any request from an untrusted peer, every
    one sent straight to the gateway) costs one trust check and one look at the header names, and
    goes to the app without another middleware's frame: it is on every call's path.
    """

    def __init__(self, app: ASGIApp, trusted: str | list[str] = DEFAULT_TRUSTED) -> None:
        self.app = app
        # uvicorn's middleware does the rest (scheme from X-Forwarded-Proto, the client address),
        # and its parsing of the trust list (addresses, networks, "*") decides for both.
        self.proxy = ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=trusted)
        self.trusted_hosts = self.proxy.trusted_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            client = scope.get("client")
            if (client[0] if client else None) in self.trusted_hosts:
                for name, _ in scope["headers"]:
                    if name in _PROXY_HEADERS:
                        await self.proxy(cast(Any, _public(scope)), cast(Any, receive), cast(Any, send))
                        return
        await self.app(scope, receive, send)


def _public(scope: Scope) -> Scope:
    x_host: str | None = None
    forwarded: str | None = None
    for name, value in scope["headers"]:
        if name == b"x-forwarded-host":
            x_host = value.decode("latin-1")
        elif name == b"forwarded":
            joined = value.decode("latin-1")
            forwarded = joined if forwarded is None else f"{forwarded}, {joined}"
    element = forwarded_element(forwarded) if forwarded else {}
    host = _last(x_host) if x_host else element.get("host")
    proto = element.get("proto", "").lower()
    if host is not None and not _HOST.fullmatch(host):
        host = None
    if host is None and proto not in _SCHEMES:
        return scope
    scope = dict(scope)
    if host is not None:
        headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"] = [(b"host", host.encode("latin-1")), *headers]
    if proto in _SCHEMES:
        scope["scheme"] = _SCHEMES[proto] if scope["type"] == "websocket" else proto
    return scope
