"""Real servers on loopback for tests: uvicorn in a background thread, or `gemini-gateway serve`
in a process of its own, on a free port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from tests.store.dbservers import free_port

CLI_ADMIN_TOKEN = "admin-cli-test-token-77"


@contextlib.contextmanager
def serve_in_thread(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `app` with uvicorn (httptools) until the block ends; yields its base URL."""
    config = uvicorn.Config(
        app, host=host, port=0, loop="asyncio", http="httptools", log_level="warning", access_log=False
    )
    with running(uvicorn.Server(config)) as port:
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def running(server: uvicorn.Server) -> Iterator[int]:
    """`server` run in a background thread until the block ends; yields the port it bound."""
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class Served:
    def __init__(self, url: str, process: subprocess.Popen[str]) -> None:
        self.url = url
        self.process = process
        self.log = ""  # what it wrote to stderr, once it has stopped


def spawn_cli(tmp_path: Path, *args: str, **env: str) -> Served:
    """Start `gemini-gateway serve` (its log kept) without waiting for it; `stop_cli` ends it."""
    port = free_port()
    values = {
        "GEMINI_API_KEYS": "",
        "VERTEX_EXPRESS_KEYS": "",
        "OAUTH_CREDS_JSON": "",
        "EXECUTOR_TOKENS": "",
        "ADMIN_TOKEN": CLI_ADMIN_TOKEN,
        "DATA_DIR": str(tmp_path / "data"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gemini_gateway", "serve", *args],
        env={**os.environ, **values},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return Served(f"http://127.0.0.1:{values['PORT']}", process)


def wait_answering(served: Served, path: str = "/health", timeout: float = 90) -> None:
    """Wait until `path` answers 200; AssertionError if the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while served.process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{served.url}{path}", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"the gateway did not answer {path} (exit code {served.process.poll()})")


def stop_cli(served: Served) -> None:
    served.process.terminate()
    try:
        _, served.log = served.process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        served.process.kill()
        _, served.log = served.process.communicate(timeout=15)


@contextlib.contextmanager
def serve_cli(tmp_path: Path, **env: str) -> Iterator[Served]:
    """Run `gemini-gateway serve` until the block ends, once it answers; its log is kept."""
    served = spawn_cli(tmp_path, **env)
    try:
        wait_answering(served)
        yield served
    finally:
        stop_cli(served)
