"""PostgreSQL stopped in the middle of a load: no request fails, every one is recorded exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.recorder.conftest import ADMIN, CLIENT_TOKEN, RECORDING, wait_for_health, wait_for_status
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
        assert (await asyncio.to_thread(wait_for_health, running.url))[
            "healthy"
        ]  # writing, before the outage
        done: list[int] = []

        async def one(client: httpx.AsyncClient, i: int) -> None:
            response = await client.post(
                f"{running.url}/v1beta/models/{MODEL}:generateContent",
                json={"contents": [{"parts": [{"text": f"marker-{i:03d}"}]}]},
                headers={"x-goog-api-key": CLIENT_TOKEN},
            )
            assert response.status_code == 200, response.text
            done.append(i)

        async def load() -> None:
            async with httpx.AsyncClient(timeout=30) as client:
                for start in range(0, REQUESTS, 4):
                    await asyncio.gather(*(one(client, i) for i in range(start, start + 4)))

        async def outage() -> None:
            while len(done) < 16:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(own_postgres.stop, "fast")
            stopped_at = len(done)
            while len(done) < stopped_at + 16:  # requests keep answering while the store is gone
                await asyncio.sleep(0.01)
            await asyncio.to_thread(own_postgres.start)

        await asyncio.gather(load(), outage())
        assert sorted(done) == list(range(REQUESTS))
        status = await asyncio.to_thread(wait_for_status, running.url, 20.0, healthy=True, queued=0)
        assert status["spooled"] > 0 and status["replayed"] == status["spooled"]  # the outage was real
        assert status["lost"] == status["rejected"] == 0

        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(100):
                await asyncio.sleep(0.1)
                status = (await client.get(f"{running.url}/api/recorder", headers=ADMIN)).json()
                if status["spool"]["files"] == 0:
                    break
            export = await client.get(f"{running.url}/api/logs/export", headers=ADMIN)
        lines = [orjson.loads(line) for line in export.content.splitlines()]
        markers = [line["request_body"]["contents"][0]["parts"][0]["text"] for line in lines]
        assert sorted(markers) == [f"marker-{i:03d}" for i in range(REQUESTS)]  # each once, none missing
