"""The store cut off by the network in the middle of a load (a proxy between the gateway and
PostgreSQL resets every connection and refuses new ones, then comes back): every exchange made
meanwhile is recorded once the store is reachable again, exactly once, with either writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.recorder.conftest import RECORDING, exported_markers, marked_load, wait_for_health, wait_for_status
from tests.recorder.tcpproxy import TcpProxy
from tests.store.dbservers import OwnPostgres, create_database, drop_database, postgres_bin, service_url

REQUESTS = 60


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    """A PostgreSQL server URL: the machine's service, else one started here, else a skip."""
    base = await service_url("postgresql")
    if base is not None:
        yield base
        return
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server (scripts/test-services.sh installs one)")
    server = OwnPostgres()
    try:
        await asyncio.to_thread(server.start)
        yield server.url
    finally:
        await asyncio.to_thread(server.destroy)


@pytest.mark.parametrize("writer", ["inline", "process"])
async def test_exchanges_made_while_the_store_is_cut_off_are_all_recorded(
    gateway_factory: GatewayFactory, fake: FakeState, postgres: str, writer: str
) -> None:
    fake.config.merge({"latency_ms": 20})  # spread the load over the outage
    database = await create_database(postgres)
    proxy = TcpProxy(int(postgres.rsplit(":", 1)[1]))
    proxy.start()
    proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}/{database.rsplit('/', 1)[1]}"
    try:
        with gateway_factory(**{**RECORDING, "recording_writer": writer}, database_url=proxied) as running:
            status = await asyncio.to_thread(wait_for_health, running.url)
            assert status["healthy"], status
            done: list[int] = []

            async def partition() -> None:
                while len(done) < 16:
                    await asyncio.sleep(0.01)
                proxy.cut()
                cut_at = len(done)
                while len(done) < cut_at + 20:  # requests keep answering while the store is gone
                    await asyncio.sleep(0.01)
                proxy.start()

            await asyncio.gather(marked_load(running.url, REQUESTS, done), partition())
            assert sorted(done) == list(range(REQUESTS))
            status = await asyncio.to_thread(wait_for_status, running.url, 20.0, healthy=True, queued=0)
            assert status["spooled"] > 0  # the partition was felt
            assert status["lost"] == status["rejected"] == 0

            markers = await exported_markers(running.url)
            assert markers == [f"marker-{i:03d}" for i in range(REQUESTS)]  # each once, none missing
    finally:
        proxy.close()
        await drop_database(database)
