"""The command line, run as users run it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.servers import CLI_ADMIN_TOKEN as ADMIN_TOKEN
from tests.servers import serve_cli as serving
from tests.store.dbservers import free_port


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gemini_gateway", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_serve_refuses_a_public_address_without_client_tokens(tmp_path) -> None:
    result = run_cli("serve", env={"HOST": "0.0.0.0", "GATEWAY_TOKENS": "", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "GATEWAY_TOKENS" in result.stderr and "0.0.0.0" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_serve_refuses_a_client_token_equal_to_the_admin_token(tmp_path: Path, host: str) -> None:
    same = "one-token-for-both-doors-9c1e"
    env = {
        "HOST": host,
        "PORT": str(free_port()),
        "GATEWAY_TOKENS": f"client-own-token-4b2d,{same}",
        "ADMIN_TOKEN": same,
        "DATA_DIR": str(tmp_path),
    }
    result = run_cli("serve", env=env, timeout=30)  # before the check, it served (and never returned)
    assert result.returncode == 2
    assert "GATEWAY_TOKENS" in result.stderr and "ADMIN_TOKEN" in result.stderr
    assert same not in result.stderr  # the message says what to change, never the token


def test_placeholder_admin_token_is_rejected(tmp_path) -> None:
    result = run_cli("serve", env={"ADMIN_TOKEN": "changeme", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "ADMIN_TOKEN" in result.stderr


@pytest.mark.parametrize("command", [["serve"], ["creds", "list"], ["aistudio", "list"], ["logs", "export"]])
def test_every_command_reads_settings_one_way(tmp_path: Path, command: list[str]) -> None:
    result = run_cli(*command, env={"PORT": "not-a-port", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stderr
    assert "configuration error: PORT:" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_commands() -> None:
    result = run_cli("--help", env={})
    assert result.returncode == 0 and "serve" in result.stdout and "fake-upstream" in result.stdout


def serve_log(tmp_path: Path, **env: str) -> str:
    """Start `gemini-gateway serve`, wait until it answers, stop it; returns what it logged."""
    with serving(tmp_path, **env) as served:
        pass
    return served.log


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


def _callback_of(url: str, headers: dict[str, str], *, source: str = "127.0.0.1") -> str:
    """Start a loopback login from `source` and return the callback address it asks Google for."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        started = client.post(
            f"{url}/api/oauth/login",
            json={"mode": "loopback"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}", **headers},
        )
    assert started.status_code == 201, started.text
    body = started.json()
    consent = parse_qs(urlsplit(body["auth_url"]).query)
    assert consent["redirect_uri"] == [body["redirect_uri"]]
    return str(body["redirect_uri"])


def test_the_oauth_callback_names_the_public_address_only_behind_a_trusted_proxy(tmp_path: Path) -> None:
    oauth = {
        "OAUTH_CLIENT_ID": "cli-proxy-test.apps.example",
        "OAUTH_CLIENT_SECRET": "cli-proxy-test-secret",
        "OAUTH_AUTH_URL": "http://127.0.0.1:9/o/oauth2/v2/auth",  # only named in the consent URL
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    x_forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "gateway.example.com"}
    with serving(tmp_path, **oauth) as served:
        internal = f"{served.url}/admin/oauth2callback"
        assert _callback_of(served.url, {}) == internal
        public = _callback_of(served.url, x_forwarded)
        assert public == "https://gateway.example.com/admin/oauth2callback"
        rfc7239 = {"forwarded": 'for=198.51.100.7;proto=https;host="gw.example.org:8443"'}
        assert _callback_of(served.url, rfc7239) == "https://gw.example.org:8443/admin/oauth2callback"
        # Proxies append: a value the client sent ahead of the proxy's own is not believed.
        appended = {**x_forwarded, "x-forwarded-host": "evil.example, gateway.example.com"}
        assert _callback_of(served.url, appended) == public
        assert _callback_of(served.url, {"x-forwarded-host": "evil.example/path?"}) == internal
        # 127.0.0.2 is loopback too, but not in FORWARDED_ALLOW_IPS: its headers are ignored.
        assert _callback_of(served.url, x_forwarded, source="127.0.0.2") == internal
        assert _callback_of(served.url, rfc7239, source="127.0.0.2") == internal
