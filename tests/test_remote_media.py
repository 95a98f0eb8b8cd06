"""The media-URL fetcher with the gateway's own HTTP client, real loopback hosts and scripted DNS:
it connects only to addresses it vetted, under the original name, and re-checks every redirect."""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gemini_gateway import remote_media
from gemini_gateway.errors import RequestError
from gemini_gateway.remote_media import MAX_REDIRECTS, fetch_media, pinned_hops
from gemini_gateway.transport.aiohttp_transport import AiohttpTransport
from tests.media_hosts import (
    PNG,
    PUBLIC,
    LoopbackHost,
    Route,
    ScriptedDNS,
    canary_and_site,
    self_signed_for,
    treat_as_public,
)
from tests.transport.test_build import ForwardProxy

Hosts = tuple[LoopbackHost, LoopbackHost]


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hosts]:
    treat_as_public(monkeypatch, PUBLIC)
    with canary_and_site() as pair:
        yield pair


@pytest.fixture
async def http() -> AsyncIterator[AiohttpTransport]:
    """The client the gateway builds (with its 300 s DNS cache), no proxy."""
    client = AiohttpTransport.create(proxy=None, connect_timeout=5, read_timeout=10)
    yield client
    await client.aclose()


async def fetch(
    http: AiohttpTransport, url: str, max_bytes: int = 1 << 20, allow_private: bool = False
) -> bytes:
    mime, data = await fetch_media(http, url, max_bytes=max_bytes, allow_private=allow_private)
    assert mime == "image/png"
    return base64.b64decode(data)


def test_hops_carry_the_name_for_host_and_tls() -> None:
    https = pinned_hops(URL("https://media.example.com/a.png?x=1"), ["93.184.215.14", "2606:2800:21f::1"])
    assert [str(hop.url) for hop in https] == [
        "https://93.184.215.14/a.png?x=1",
        "https://[2606:2800:21f::1]/a.png?x=1",
    ]
    assert {(hop.host_header, hop.server_hostname) for hop in https} == {
        ("media.example.com", "media.example.com")
    }
    (plain,) = pinned_hops(URL("http://media.example.com:8080/a.png"), ["93.184.215.14"])
    assert (plain.host_header, plain.server_hostname) == ("media.example.com:8080", None)


@pytest.mark.parametrize(
    "answer", [["127.0.0.1"], ["93.184.215.14", "10.0.0.7"], ["93.184.215.14", "::ffff:127.0.0.1"], []]
)
def test_any_internal_address_in_the_answer_refuses_the_host(answer: list[str]) -> None:
    with pytest.raises(RequestError, match="loopback or private"):
        pinned_hops(URL("https://media.example.com/a.png"), answer)


async def test_a_rebinding_name_is_resolved_once_and_the_checked_address_used(
    http: AiohttpTransport, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary, site = hosts
    site.serve("/heron.png", PNG)
    canary.serve("/heron.png", b"secret from loopback")
    dns = ScriptedDNS(monkeypatch, {"media.rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    assert await fetch(http, f"http://media.rebind.test:{site.port}/heron.png") == PNG
    assert dns.asked == ["media.rebind.test"]
    assert site.requests == [("/heron.png", f"media.rebind.test:{site.port}")]
    assert canary.requests == []


async def test_an_answer_with_a_loopback_address_among_public_ones_is_refused(
    http: AiohttpTransport, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary, site = hosts
    ScriptedDNS(monkeypatch, {"media.mixed.test": [[PUBLIC, "127.0.0.1"]]})
    with pytest.raises(RequestError, match="loopback or private") as info:
        await fetch(http, f"http://media.mixed.test:{site.port}/heron.png")
    assert info.value.status_code == 400
    assert site.requests == [] and canary.requests == []


async def test_redirects_are_rechecked_and_bounded(
    http: AiohttpTransport, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary, site = hosts
    ScriptedDNS(monkeypatch, {"media.site.test": [[PUBLIC]]})
    base = f"http://media.site.test:{site.port}"
    site.redirect("/loop.png", "/loop.png", 307)
    with pytest.raises(RequestError, match=f"more than {MAX_REDIRECTS} times"):
        await fetch(http, base + "/loop.png")
    assert len(site.requests) == MAX_REDIRECTS + 1
    site.redirect("/to-loopback.png", f"http://[::ffff:127.0.0.1]:{canary.port}/heron.png")
    with pytest.raises(RequestError, match="loopback or private"):
        await fetch(http, base + "/to-loopback.png")
    site.redirect("/to-file.png", "file:///etc/passwd")
    with pytest.raises(RequestError, match="unsupported media URL"):
        await fetch(http, base + "/to-file.png")
    site.redirect("/nowhere.png", "")
    with pytest.raises(RequestError, match="without a Location"):
        await fetch(http, base + "/nowhere.png")
    site.redirect("/old.png", f"{base}/new.png", 308)
    site.serve("/new.png", PNG)
    assert await fetch(http, base + "/old.png") == PNG
    assert canary.requests == []


async def test_the_next_vetted_address_is_tried_when_one_refuses_connections(
    http: AiohttpTransport, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary, site = hosts
    treat_as_public(monkeypatch, "127.0.0.3")  # nothing listens there
    site.serve("/heron.png", PNG)
    ScriptedDNS(monkeypatch, {"media.two.test": [["127.0.0.3", PUBLIC]]})
    assert await fetch(http, f"http://media.two.test:{site.port}/heron.png") == PNG
    assert canary.requests == []


async def test_size_limit_holds(
    http: AiohttpTransport, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, site = hosts
    site.serve("/big.png", PNG * 20)
    ScriptedDNS(monkeypatch, {"media.site.test": [[PUBLIC]]})
    with pytest.raises(RequestError, match="byte limit") as info:
        await fetch(http, f"http://media.site.test:{site.port}/big.png", max_bytes=len(PNG))
    assert info.value.status_code == 413


async def test_a_stalled_download_ends_at_the_deadline(
    http: AiohttpTransport, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, site = hosts
    release = threading.Event()
    site.routes["/slow.png"] = Route(200, PNG, {"Content-Type": "image/png"}, hold=release)
    ScriptedDNS(monkeypatch, {"media.site.test": [[PUBLIC]]})
    monkeypatch.setattr(remote_media, "FETCH_SECONDS", 0.5)
    try:
        with pytest.raises(RequestError, match="could not fetch the media URL \\(TimeoutError\\)"):
            await fetch(http, f"http://media.site.test:{site.port}/slow.png")
    finally:
        release.set()


async def test_tls_is_verified_for_the_name_while_connecting_to_the_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server_tls, client_tls = self_signed_for("media.tls.test", tmp_path)
    treat_as_public(monkeypatch, PUBLIC)
    ScriptedDNS(monkeypatch, {"media.tls.test": [[PUBLIC]], "media.impostor.test": [[PUBLIC]]})
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_tls))
    http = AiohttpTransport(session, proxy=None)
    try:
        with canary_and_site(server_tls) as (canary, site):
            site.serve("/heron.png", PNG)
            # The certificate names media.tls.test, not 127.0.0.2: this passes only if the name is
            # the one sent as SNI and checked.
            assert await fetch(http, f"https://media.tls.test:{site.port}/heron.png") == PNG
            assert site.requests == [("/heron.png", f"media.tls.test:{site.port}")]
            with pytest.raises(RequestError, match="CertificateError"):
                await fetch(http, f"https://media.impostor.test:{site.port}/heron.png")
            assert len(site.requests) == 1 and canary.requests == []
    finally:
        await http.aclose()


async def test_private_urls_are_fetched_when_the_operator_allows_them(http: AiohttpTransport) -> None:
    host = LoopbackHost("127.0.0.1")
    try:
        host.redirect("/a.png", "/b.png")
        host.serve("/b.png", PNG)
        assert await fetch(http, f"http://127.0.0.1:{host.port}/a.png", allow_private=True) == PNG
        with pytest.raises(RequestError, match="loopback or private"):
            await fetch(http, f"http://127.0.0.1:{host.port}/a.png")
    finally:
        host.close()


async def test_a_proxy_is_handed_the_checked_address_not_the_name(
    hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy resolving the name itself would reopen the rebinding hole on its side."""
    canary, site = hosts
    site.serve("/heron.png", PNG)
    ScriptedDNS(monkeypatch, {"media.rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    proxy = ForwardProxy()
    with proxy.running() as proxy_url:
        http = AiohttpTransport.create(proxy=proxy_url, connect_timeout=5, read_timeout=10)
        try:
            assert await fetch(http, f"http://media.rebind.test:{site.port}/heron.png") == PNG
        finally:
            await http.aclose()
    assert proxy.seen == [f"GET http://{PUBLIC}:{site.port}/heron.png"]
    assert canary.requests == []
