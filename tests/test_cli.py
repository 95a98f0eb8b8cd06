"""The command line, run as users run it."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import GatewayFactory


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gemini_gateway", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_a_public_address_without_client_tokens(tmp_path) -> None:
    result = run_cli("serve", env={"HOST": "0.0.0.0", "GATEWAY_TOKENS": "", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "GATEWAY_TOKENS" in result.stderr and "0.0.0.0" in result.stderr


def test_placeholder_admin_token_is_rejected(tmp_path) -> None:
    result = run_cli("serve", env={"ADMIN_TOKEN": "changeme", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "ADMIN_TOKEN" in result.stderr


def test_help_lists_the_commands() -> None:
    result = run_cli("--help", env={})
    assert result.returncode == 0 and "serve" in result.stdout and "fake-upstream" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_log(tmp_path: Path, **env: str) -> str:
    """Start `gemini-gateway serve`, wait until it answers, stop it; returns what it logged."""
    port = free_port()
    values = {
        "GEMINI_API_KEYS": "",
        "VERTEX_EXPRESS_KEYS": "",
        "OAUTH_CREDS_JSON": "",
        "EXECUTOR_TOKENS": "",
        "ADMIN_TOKEN": "admin-cli-test-token-77",
        "DATA_DIR": str(tmp_path / "data"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gemini_gateway", "serve"],
        env={**os.environ, **values},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the gateway did not start")
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    return stderr


def test_serve_warns_of_an_empty_pool_only_when_it_is_empty(tmp_path: Path) -> None:
    empty = serve_log(tmp_path)
    assert "no upstream credentials" in empty and "WARNING" in empty
    express_only = serve_log(tmp_path, VERTEX_EXPRESS_KEYS="vertex-express-cli-key-1")
    assert "no upstream credentials" not in express_only and "GEMINI_API_KEYS is empty" not in express_only
    assert "vertex-express-cli-key-1" not in express_only


def test_a_pool_waiting_for_executor_tabs_is_not_a_warning(
    gateway_factory: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, logger="gemini_gateway"),
        gateway_factory(gemini_api_keys=[], executor_tokens=["executor-cli-token-1"]),
    ):
        pass
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gemini_gateway"]
    assert any(level == logging.INFO and "executor tab connects" in text for level, text in said)
    assert not any(level >= logging.WARNING and "credential" in text for level, text in said)
