"""A store that answers only after start-up: readiness waits for what it holds to apply."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gemini_gateway import app as app_module
from gemini_gateway.app import create_app
from gemini_gateway.context import Gateway
from gemini_gateway.settings import Settings
from tests.servers import serve_in_thread


def wait_until(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_ready_only_once_what_a_late_store_holds_has_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file where the store's folder should be: opening the store fails until it is removed.
    blocker = tmp_path / "store"
    blocker.write_text("not a folder")
    loading, release = threading.Event(), threading.Event()
    attach = app_module._attach_store

    async def slow_attach(gateway: Gateway) -> None:  # loading the store's tokens takes a while
        loading.set()
        while not release.is_set():
            await asyncio.sleep(0.02)
        await attach(gateway)

    monkeypatch.setattr(app_module, "_attach_store", slow_attach)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{blocker}/gateway.db",
        data_dir=tmp_path / "data",
        gemini_api_keys=["late-store-key-1"],
        store_retry_max_seconds=0.2,
        recording_writer="inline",
    )
    with serve_in_thread(create_app(settings)) as url:
        assert httpx.get(f"{url}/health/ready", timeout=10).status_code == 503
        blocker.unlink()
        wait_until(loading.is_set)
        # Reached, but its client tokens are not applied yet: a balancer must not send anyone in.
        answer = httpx.get(f"{url}/health/ready", timeout=10)
        assert answer.status_code == 503, answer.text
        assert answer.json()["problems"] == ["store: reached; loading what it holds"]
        release.set()
        wait_until(lambda: httpx.get(f"{url}/health/ready", timeout=10).status_code == 200)
