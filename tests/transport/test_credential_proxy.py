"""A fixed outbound proxy per credential (`key|proxy` in GEMINI_API_KEYS, CREDENTIAL_PROXIES): every
call of that credential goes through it, and a dead proxy cools the credential without holding it
against the key."""

from __future__ import annotations

import socket

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import credential_id, mask_secret
from gemini_gateway.pool.proxies import split_proxies
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory
from tests.transport.test_build import BODY, ForwardProxy

GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def pool_of(url: str) -> dict[str, dict]:
    credentials = httpx.get(url + "/api/pool", headers=ADMIN).json()["credentials"]
    return {c["label"]: c for c in credentials}


def dead_proxy_url(scheme: str = "http") -> str:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"


def test_only_the_keys_calls_go_through_its_proxy(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    proxy = ForwardProxy()
    with proxy.running() as proxy_url:
        keys = [f"{KEYS[0]}|{proxy_url}", *KEYS[1:]]
        with gateway_factory(gemini_api_keys=keys, pool_strategy="round_robin") as running:
            for path in (GEN, STREAM, GEN, STREAM, GEN, STREAM):
                assert httpx.post(running.url + path, json=BODY, timeout=10).status_code == 200
            pool = pool_of(running.url)
    by_key = [c.key for c in fake.calls]
    assert set(by_key) == set(KEYS)  # the key itself, never `key|proxy`, reached the upstream
    assert len(proxy.seen) == by_key.count(KEYS[0]) == 2
    assert all(seen.startswith("POST http://127.0.0.1:") for seen in proxy.seen)
    assert pool[mask_secret(KEYS[0])]["proxy"] == proxy_url and pool[mask_secret(KEYS[1])]["proxy"] is None


def test_credential_proxies_by_id(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    proxy = ForwardProxy()
    with proxy.running() as proxy_url:
        mapping = {credential_id("api_key", KEYS[1]): proxy_url}
        with gateway_factory(credential_proxies=mapping, pool_strategy="round_robin") as running:
            for _ in range(3):
                assert httpx.post(running.url + GEN, json=BODY, timeout=10).status_code == 200
    assert len(proxy.seen) == [c.key for c in fake.calls].count(KEYS[1]) == 1


def test_a_dead_proxy_cools_its_key_without_disabling_it(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    keys = [f"{KEYS[0]}|{dead_proxy_url()}", *KEYS[1:]]
    with gateway_factory(gemini_api_keys=keys) as running:
        for path in (GEN, STREAM):
            assert httpx.post(running.url + path, json=BODY, timeout=10).status_code == 200
        proxied = pool_of(running.url)[mask_secret(KEYS[0])]
    assert KEYS[0] not in [c.key for c in fake.calls]
    assert proxied["disabled_reason"] is None and proxied["failures"] == 0
    assert proxied["cooldowns"] and "proxy unreachable" in proxied["errors"][-1]["error"]


def test_a_proxy_url_the_transports_cannot_use_is_refused() -> None:
    from pydantic import ValidationError

    from gemini_gateway.settings import Settings

    with pytest.raises(ValidationError, match="credential proxy must be"):
        Settings(_env_file=None, credential_proxies={"api_key:0": "ftp://proxy.example"})  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="credential proxy must be"):
        split_proxies(["key-1|not a url"])
    assert split_proxies(["key-1|socks5://10.0.0.2:1080", "key-2"]) == (
        ["key-1", "key-2"],
        {"key-1": "socks5://10.0.0.2:1080"},
    )
