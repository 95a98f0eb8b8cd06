"""Helpers for tests that put executor pages in real headless Chromium next to a gateway."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from gemini_gateway.app import create_app
from gemini_gateway.settings import Settings
from tests.conftest import ADMIN_TOKEN

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def executor_settings(tmp_path: Path, fake_url: str, token: str, **extra: Any) -> Settings:
    """A gateway with no API keys, so every answer has to come through an executor tab (`token`
    lets tabs connect), its records written inline (no writer process per test, see
    tests/conftest.py)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        gemini_api_keys=[],
        executor_tokens=[token],
        gemini_base_url=fake_url,
        admin_token=ADMIN_TOKEN,
        data_dir=tmp_path / "data",
        recording_writer="inline",
        **extra,
    )


@contextlib.contextmanager
def serve_gateway(settings: Settings, port: int = 0) -> Iterator[str]:
    """A gateway on a chosen port (0: any), so a test can restart it where its tabs expect it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), loop="asyncio", http="httptools", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "gateway did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
