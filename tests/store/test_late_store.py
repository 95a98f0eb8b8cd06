"""A gateway started before its store is up becomes ready once the store answers, by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from gemini_gateway.admin import repo
from gemini_gateway.admin.tables import ClientToken
from gemini_gateway.auth import token_digest
from gemini_gateway.store.database import Database
from tests.recorder.tcpproxy import TcpProxy
from tests.servers import spawn_cli, stop_cli, wait_answering
from tests.store.dbservers import create_database, drop_database

START_SECONDS = 60


def ready(url: str) -> httpx.Response:
    return httpx.get(f"{url}/health/ready", timeout=10)


def wait_ready(url: str, seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    answer = ready(url)
    while answer.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = ready(url)
    return answer


async def store_a_client_token(url: str) -> None:
    """What another replica would have done: a client token, in the store only."""
    database = Database(url)
    try:
        await database.migrate()
        token = ClientToken(
            id="late01",
            digest=token_digest("late-store-client-token-1"),
            name="made elsewhere",
            tier="user",
            hint="late…en-1",
            created_at=time.time(),
            created_by="test",
        )
        await repo.add_token(database, token)
    finally:
        await database.aclose()


async def test_a_store_that_comes_up_late_is_taken_in_without_a_restart(
    server_urls: dict[str, str | None], tmp_path: Path
) -> None:
    base = server_urls.get("postgresql")
    if base is None:
        pytest.skip(f"no postgresql server: {server_urls.get('postgresql-problem')}")
    url = await create_database(base)
    port = int(base.rsplit(":", 1)[1])
    proxy = TcpProxy(port)  # not listening yet: the store refuses connections
    proxied = f"postgresql://postgres@127.0.0.1:{proxy.port}/{url.rsplit('/', 1)[1]}"
    env = {
        "DATABASE_URL": proxied,
        "GEMINI_API_KEYS": "late-store-key-1",
        "RECORDING_WRITER": "inline",
        "STORE_RETRY_MAX_SECONDS": "1",
    }
    served = spawn_cli(tmp_path, **env)
    try:
        await asyncio.to_thread(wait_answering, served, "/health", START_SECONDS)
        waiting = ready(served.url)
        assert waiting.status_code == 503
        [problem] = waiting.json()["problems"]
        assert problem.startswith("store: waiting for it (attempt ") and "retrying" in problem
        await store_a_client_token(url)  # the gateway cannot see it yet
        proxy.start()
        answer = await asyncio.to_thread(wait_ready, served.url, START_SECONDS)
        assert answer.status_code == 200, answer.text
        # What the store holds applies once it is reached: its client token closes the open door.
        anonymous = httpx.get(f"{served.url}/v1beta/models", timeout=10)
        assert anonymous.status_code == 401, anonymous.text
    finally:
        stop_cli(served)
        proxy.close()
        await drop_database(url)
    assert "store is reachable" in served.log
