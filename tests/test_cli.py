"""The command line, run as users run it."""

from __future__ import annotations

import os
import subprocess
import sys


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
