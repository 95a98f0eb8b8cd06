"""Replicas started together on an empty store: migrations run once, under the store's lock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gemini_gateway.store.database import Database, head_revision
from tests.servers import Served, spawn_cli, stop_cli, wait_answering
from tests.store.dbservers import create_database, drop_database
from tests.test_cli import run_cli

START_SECONDS = 120  # three gateways starting at once on a busy two-core machine


async def fresh_url(kind: str, server_urls: dict[str, str | None], tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    base = server_urls.get(kind)
    if base is None:
        pytest.skip(f"no {kind} server: {server_urls.get(f'{kind}-problem')}")
    return await create_database(base)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
async def test_three_migrations_at_once_on_an_empty_store_all_succeed(
    kind: str, server_urls: dict[str, str | None], tmp_path: Path
) -> None:
    url = await fresh_url(kind, server_urls, tmp_path)
    databases = [Database(url) for _ in range(3)]
    try:
        await asyncio.gather(*(d.migrate() for d in databases))
        assert [await d.revision() for d in databases] == [head_revision()] * 3
    finally:
        for database in databases:
            await database.aclose()
        if kind != "sqlite":
            await drop_database(url)


@contextlib.contextmanager
def gateways(tmp_path: Path, count: int, **env: str) -> Iterator[list[Served]]:
    folders = [tmp_path / f"replica{i}" for i in range(count)]
    for folder in folders:
        folder.mkdir()
    started = [spawn_cli(folder, **env) for folder in folders]
    try:
        yield started
    finally:
        for served in started:
            stop_cli(served)


async def test_three_gateways_started_at_once_on_an_empty_postgresql_all_become_ready(
    server_urls: dict[str, str | None], tmp_path: Path
) -> None:
    url = await fresh_url("postgresql", server_urls, tmp_path)
    env = {"DATABASE_URL": url, "GEMINI_API_KEYS": "replica-start-key-1", "RECORDING_WRITER": "inline"}
    try:
        with gateways(tmp_path, 3, **env) as started:
            for served in started:
                await asyncio.to_thread(wait_answering, served, "/health", START_SECONDS)
            for served in started:
                ready = httpx.get(f"{served.url}/health/ready", timeout=10)
                assert ready.status_code == 200, (ready.text, served.url)
        logs = "".join(s.log for s in started)
        assert "store unavailable" not in logs and "UniqueViolation" not in logs
    finally:
        await drop_database(url)


def test_migrate_command_brings_an_empty_store_to_the_newest_schema(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": ""}
    behind = run_cli("migrate", "--check", env=env)
    assert behind.returncode == 1 and f"newest is {head_revision()}" in behind.stdout
    done = run_cli("migrate", env=env)
    assert done.returncode == 0, done.stderr
    assert f"store at {head_revision()} (was empty)" in done.stdout
    current = run_cli("migrate", "--check", env=env)
    assert current.returncode == 0 and f"store at {head_revision()};" in current.stdout


def test_migrate_command_says_why_it_failed_without_a_traceback(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    failed = run_cli("migrate", env=env)
    assert failed.returncode == 1
    assert failed.stderr.startswith("migration failed:") and "Traceback" not in failed.stderr
