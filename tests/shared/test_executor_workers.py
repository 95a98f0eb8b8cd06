"""An executor tab on one worker of `serve --workers 2` serves calls whichever worker takes them.

The workers share one port, so a relay for the tab sent to that port reaches either worker; the
one that does not hold the tab passes it on to its sibling. Real processes (`gemini-gateway
serve`), their store a SQLite file in the shared data folder (which also holds the executor
registry: no Redis needed), the Python stand-in tab of tests/backends on the fake upstream.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import httpx

from gemini_gateway.fake_upstream import FakeState
from tests.backends.test_executor_protocol import EXEC_KEY, TOKEN, executor
from tests.servers import CLI_ADMIN_TOKEN, spawn_cli, stop_cli, wait_answering

MODEL = "gemini-2.5-flash"
GEN = f"/v1beta/models/{MODEL}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "Tell me about kestrels"}]}]}
ADMIN = {"Authorization": f"Bearer {CLI_ADMIN_TOKEN}"}
DEADLINE = 60.0
FILES = ["generateContent", "files.upload", "files.get"]


def _fresh() -> httpx.AsyncClient:
    """A client opening a new connection per request: each may be accepted by either worker."""
    return httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))


def _replicas_that_answered(database: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT replica FROM exchanges WHERE route LIKE '%generateContent%'").fetchall()
    return {row[0] for row in rows if row[0]}


async def _owner_seen_remotely(url: str) -> str:
    """The tab's owner as the other worker names it, once a request reaches that worker."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    async with _fresh() as client:
        while loop.time() < deadline:
            pool = (await client.get(url + "/api/pool", headers=ADMIN)).json()["credentials"]
            remote = [c for c in pool if c["id"] == "executor:tab" and c.get("state") == "remote"]
            if remote:
                return str(remote[0]["replica"])
            await asyncio.sleep(0.05)
    raise AssertionError("no worker listed the tab of its sibling in time")


async def test_a_tab_on_one_worker_serves_calls_taken_by_the_other(
    tmp_path: Path, fake_url: str, fake: FakeState
) -> None:
    env = {"EXECUTOR_TOKENS": TOKEN, "RECORDING_WRITER": "inline", "GEMINI_BASE_URL": fake_url}
    served = spawn_cli(tmp_path, "--workers", "2", **env)
    try:
        await asyncio.to_thread(wait_answering, served, "/health", 90)
        async with executor(served.url, fake_url, "tab", capabilities=FILES) as tab, _fresh() as client:
            owner = await _owner_seen_remotely(served.url)
            database = tmp_path / "data" / "gateway.db"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            answered: set[str] = set()
            calls = 0
            # Until the worker without the tab has taken calls (and relayed them) a few times.
            while len(answered - {owner}) < 1 or calls < 10:
                assert loop.time() < deadline, f"only {answered} took calls"
                answer = await client.post(served.url + GEN, json=BODY)
                assert answer.status_code == 200, answer.text
                assert answer.headers["x-gateway-credential"] == "tab"
                calls += 1
                answered = await asyncio.to_thread(_replicas_that_answered, database)
            assert len(tab.tasks) == calls
            # A file the tab holds, from either worker: uploads and gets pass on to the owner too.
            answer = await client.post(
                served.url + "/upload/v1beta/files",
                params={"uploadType": "media"},
                content=b"kestrel " * 999,
                headers={"Content-Type": "text/plain"},
            )
            assert answer.status_code == 200, answer.text
            name = answer.json()["file"]["name"]
            for _ in range(10):
                got = await client.get(f"{served.url}/v1beta/{name}")
                assert got.status_code == 200, got.text
            assert {c.key for c in fake.calls if c.key} == {EXEC_KEY}
    finally:
        stop_cli(served)
    assert "Traceback" not in served.log, served.log[-3000:]
