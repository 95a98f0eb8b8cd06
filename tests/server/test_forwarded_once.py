"""forwarded.TrustedProxies decides with one trust check and one look at the header names, and
hands a proxy's request to the general way: its answers must be those of the general way (this
module's `_public` and then uvicorn's ProxyHeadersMiddleware) for every mix of proxy headers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gemini_gateway.forwarded import TrustedProxies, _public
from tests.server.wire import serve


async def seen(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what the app was told of the request."""
    host = next((v.decode() for k, v in scope["headers"] if k == b"host"), None)
    body = json.dumps({"scheme": scope["scheme"], "client": scope["client"][0], "host": host}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]}
    )
    await send({"type": "http.response.body", "body": body})


class GeneralWay:
    """What TrustedProxies did for every request before: `_public`, then uvicorn's middleware."""

    def __init__(self, trusted: str) -> None:
        self.proxy = ProxyHeadersMiddleware(seen, trusted_hosts=trusted)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope["client"][0] in self.proxy.trusted_hosts:
            scope = _public(scope)
        await self.proxy(scope, receive, send)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def urls() -> Iterator[tuple[str, str]]:
    trusted = "127.0.0.1"
    with serve(TrustedProxies(seen, trusted)) as fast, serve(GeneralWay(trusted)) as general:
        yield f"http://127.0.0.1:{fast.port}", f"http://127.0.0.1:{general.port}"


PROXY_HEADERS = {
    "x-forwarded-proto": ["https", "ftp"],
    "x-forwarded-host": ["gw.example", "evil.example, gw.example:8443", "bad/host?"],
    "forwarded": ['for=198.51.100.7;proto=https;host="gw.example.org:8443"', "garbage;;"],
    "x-forwarded-for": ["198.51.100.7", "203.0.113.9, 127.0.0.1"],
}


def header_mixes() -> Iterator[dict[str, str]]:
    yield {}
    yield {"x-other": "1"}
    for name, values in PROXY_HEADERS.items():
        for value in values:
            yield {name: value}
    firsts = {name: values[0] for name, values in PROXY_HEADERS.items()}
    for size in (2, 4):
        for names in itertools.combinations(firsts, size):
            yield {name: firsts[name] for name in names}


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"], ids=["trusted", "untrusted"])
def test_the_answers_of_the_general_way(urls: tuple[str, str], source: str) -> None:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        for headers in header_mixes():
            sent = {"host": "gateway.internal:8000", **headers}  # the same Host at both ports
            fast, general = (client.get(url + "/", headers=sent).json() for url in urls)
            assert fast == general, headers
            if source != "127.0.0.1":
                assert fast["client"] == source and fast["scheme"] == "http"
    # The mixes do reach both outcomes, so the comparison above compares something.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.1")) as client:
        assert client.get(urls[0] + "/", headers={"x-forwarded-proto": "https"}).json()["scheme"] == "https"
        assert client.get(urls[0] + "/").json()["scheme"] == "http"
