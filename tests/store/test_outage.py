"""PostgreSQL stopped in the middle of a load: no request fails, every one is recorded exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.recorder.conftest import RECORDING, exported_markers, marked_load, wait_for_health, wait_for_status
from tests.store.dbservers import OwnPostgres, create_database, postgres_bin

REQUESTS = 60
MODEL = "gemini-2.5-flash"


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (scripts/test-services.sh installs them)")
    server = OwnPostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


async def test_postgres_down_mid_load_loses_and_doubles_nothing(
    gateway_factory: GatewayFactory, fake: FakeState, own_postgres: OwnPostgres
) -> None:
    fake.config.merge({"latency_ms": 20})  # spread the load over the outage
    url = await create_database(own_postgres.url)
    with gateway_factory(**RECORDING, database_url=url) as running:
        status = await asyncio.to_thread(wait_for_health, running.url)
        assert status["healthy"], status  # writing, before the outage
        done: list[int] = []

        async def outage() -> None:
            while len(done) < 16:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(own_postgres.stop, "fast")
            stopped_at = len(done)
            while len(done) < stopped_at + 16:  # requests keep answering while the store is gone
                await asyncio.sleep(0.01)
            await asyncio.to_thread(own_postgres.start)

        await asyncio.gather(marked_load(running.url, REQUESTS, done), outage())
        assert sorted(done) == list(range(REQUESTS))
        status = await asyncio.to_thread(wait_for_status, running.url, 20.0, healthy=True, queued=0)
        assert status["spooled"] > 0 and status["replayed"] == status["spooled"]  # the outage was real
        assert status["lost"] == status["rejected"] == 0

        markers = await exported_markers(running.url)
        assert markers == [f"marker-{i:03d}" for i in range(REQUESTS)]  # each once, none missing
