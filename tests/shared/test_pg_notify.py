"""Replicas on one PostgreSQL store and no Redis learn admin changes by LISTEN/NOTIFY, at once.

Two gateways on a fresh database of the test PostgreSQL service; the store's change stamps are
polled only every 60 s here, so only the notification can make a change arrive in time. In time is
NOTIFIED seconds: about a second where nothing else runs, with room for a busy test machine, and
still far short of the poll.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN, GatewayFactory
from tests.store.dbservers import create_database, drop_database, service_url

GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Hello from the other replica"}]}]}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOTIFIED = 20.0


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = asyncio.run(service_url("postgresql"))
    if base is None:
        pytest.skip("no PostgreSQL service on 127.0.0.1:5432")
    url = asyncio.run(create_database(base))
    yield url
    asyncio.run(drop_database(url))


def within(seconds: float, check: Any, what: str) -> float:
    """Poll `check` until true; how long it took, or AssertionError after `seconds`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_token_made_on_one_replica_is_accepted_on_the_other_without_waiting_for_the_poll(
    gateway_factory: GatewayFactory, postgres_url: str, tmp_path: Path, fake: FakeState
) -> None:
    settings = {"database_url": postgres_url, "shared_poll_seconds": 60.0, "data_dir": tmp_path / "data"}
    with gateway_factory(replica_id="pa", **settings) as a, gateway_factory(replica_id="pb", **settings) as b:
        assert b.gateway.shared.listener is not None
        within(60, lambda: b.gateway.shared.listener.listening, "B listening")
        made = httpx.post(f"{a.url}/api/tokens", headers=ADMIN, json={"name": "notified"})
        assert made.status_code == 201, made.text
        token = {"Authorization": f"Bearer {made.json()['token']}"}
        # A second one, so that revoking the first leaves the API closed (no token left opens it).
        assert httpx.post(f"{a.url}/api/tokens", headers=ADMIN, json={"name": "other"}).status_code == 201
        within(
            NOTIFIED,
            lambda: httpx.post(b.url + GEN, json=BODY, headers=token).status_code == 200,
            "token on B",
        )
        revoked = httpx.delete(f"{a.url}/api/tokens/{made.json()['id']}", headers=ADMIN)
        assert revoked.status_code == 200
        within(
            NOTIFIED,
            lambda: httpx.post(b.url + GEN, json=BODY, headers=token).status_code == 403,
            "revoked on B",
        )
