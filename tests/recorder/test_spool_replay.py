"""Store unreachable: requests still succeed, records go to the spool, a restart replays them once."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from google import genai

from tests.conftest import GatewayFactory
from tests.recorder.conftest import (
    ADMIN,
    CLIENT_TOKEN,
    RECORDING,
    wait_for_health,
    wait_for_records,
    wait_for_status,
)
from tests.store.dbservers import free_port

MODEL = "gemini-2.5-flash"


def ask(url: str, count: int) -> None:
    client = genai.Client(api_key=CLIENT_TOKEN, http_options={"base_url": url, "api_version": "v1beta"})
    for i in range(count):
        client.models.generate_content(model=MODEL, contents=f"question number {i}")


def spool_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "spool").glob("*.jsonl*"))


def test_crash_with_a_full_spool_then_restart_replays_exactly_once(
    gateway_factory: GatewayFactory, fake: object, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"  # nothing listens there
    with gateway_factory(**RECORDING, data_dir=data_dir, database_url=nowhere) as running:
        ask(running.url, 5)  # every request answers although no store can take its record
        status = wait_for_health(running.url)
        assert status["healthy"] is False and status["last_error"] and status["lost"] == 0
    # The shutdown flush spooled whatever was still queued; nothing reached any store.
    files = spool_files(data_dir)
    assert files and sum(p.read_bytes().count(b"\n") for p in files) == 5
    # A crash mid-append leaves a torn last line in a ".part" file: it must be skipped, not fatal.
    (data_dir / "spool" / "20000101T000000-crashed.jsonl.part").write_bytes(b'{"v": 1, "exchange": {"id"')
    saved = tmp_path / "saved-spool"
    shutil.copytree(data_dir / "spool", saved)

    with gateway_factory(**RECORDING, data_dir=data_dir) as running:  # default SQLite store, now reachable
        items = wait_for_records(running.url, 5)
        assert sorted(i["path"] for i in items) == [f"/v1beta/models/{MODEL}:generateContent"] * 5
        assert wait_for_status(running.url, replayed=5)["spool"]["files"] == 0

    # A crash between commit and deleting the spool file would replay the same lines again:
    # ids already stored are skipped, so nothing doubles.
    shutil.rmtree(data_dir / "spool")
    shutil.copytree(saved, data_dir / "spool")
    with gateway_factory(**RECORDING, data_dir=data_dir) as running:
        assert wait_for_status(running.url, replayed=5)["spool"]["files"] == 0
        response = httpx.get(f"{running.url}/api/logs", params={"limit": 500}, headers=ADMIN)
        assert len(response.json()["items"]) == 5
