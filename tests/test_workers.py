"""`serve --workers N` and WEB_CONCURRENCY: N worker processes, each a gateway with its own replica id."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import httpx
import psutil
import pytest
from google import genai

from tests.servers import spawn_cli, stop_cli, wait_answering

START_SECONDS = 90
MODEL = "gemini-2.5-flash"


def workers_of(pid: int) -> list[psutil.Process]:
    """uvicorn's worker processes (spawned), not multiprocessing's resource tracker."""
    return [
        child
        for child in psutil.Process(pid).children()
        if "spawn_main" in " ".join(child.cmdline()) and "resource_tracker" not in " ".join(child.cmdline())
    ]


@pytest.mark.parametrize("how", ["option", "WEB_CONCURRENCY"])
def test_two_workers_serve_and_record_with_their_own_replica_id(
    tmp_path: Path, fake_url: str, how: str
) -> None:
    env = {
        "GEMINI_API_KEYS": "fake-key-workers-01",
        "GEMINI_BASE_URL": fake_url,
        "RECORDING_WRITER": "inline",
    }
    args: tuple[str, ...] = ("--workers", "2")
    if how == "WEB_CONCURRENCY":  # what PaaS hosts set; it made `serve` exit with code 3
        env, args = {**env, "WEB_CONCURRENCY": "2"}, ()
    served = spawn_cli(tmp_path, *args, **env)
    try:
        wait_answering(served, "/health/ready", START_SECONDS)
        workers = workers_of(served.process.pid)
        assert len(workers) == 2
        names = {str(w.pid) for w in workers}
        replica = httpx.get(f"{served.url}/health", timeout=10).json()["replica"]
        assert replica.rpartition(":")[2] in names
        client = genai.Client(api_key="any", http_options={"base_url": served.url})
        for i in range(4):
            client.models.generate_content(model=MODEL, contents=f"through a worker {i}")
        database = tmp_path / "data" / "gateway.db"
        deadline = time.monotonic() + 30
        stored: list[tuple[str | None]] = []
        while True:
            with contextlib.closing(sqlite3.connect(database)) as db:
                stored = db.execute("SELECT replica FROM exchanges").fetchall()
            if len(stored) >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop_cli(served)
    assert len(stored) == 4
    assert {row[0].rpartition(":")[2] for row in stored if row[0]} <= names
    assert all(row[0] for row in stored)
    assert "Traceback" not in served.log


@pytest.mark.parametrize("how", ["option", "WEB_CONCURRENCY"])
@pytest.mark.parametrize("unsafe", ["public without tokens", "client token is the admin token"])
def test_workers_get_the_safety_checks_of_one_process(tmp_path: Path, how: str, unsafe: str) -> None:
    from tests.test_cli import run_cli

    env = {"DATA_DIR": str(tmp_path / "data"), "PORT": "1"}  # never reached: the checks come first
    if unsafe == "public without tokens":
        env |= {"HOST": "0.0.0.0", "GATEWAY_TOKENS": ""}
    else:
        env |= {
            "HOST": "127.0.0.1",
            "GATEWAY_TOKENS": "same-token-for-both-7d1f",
            "ADMIN_TOKEN": "same-token-for-both-7d1f",
        }
    args = ["serve", "--workers", "2"] if how == "option" else ["serve"]
    if how == "WEB_CONCURRENCY":
        env["WEB_CONCURRENCY"] = "2"
    result = run_cli(*args, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "GATEWAY_TOKENS" in result.stderr and "same-token-for-both-7d1f" not in result.stderr
