"""Logging accounts in from the CLI (loopback and copy-paste), against the fake.

The management API's logins are tested in tests/admin/test_oauth_api.py."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.oauth.cli import run_login
from gemini_gateway.oauth.login import LoginError, code_from_paste
from gemini_gateway.settings import Settings
from tests.oauth.helpers import CLIENT_ID, oauth_settings, strict_client


def cli_settings(fake_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None, data_dir=tmp_path / "data", **oauth_settings(fake_url, tmp_path / "creds")
    )  # type: ignore[call-arg]


def test_cli_login_over_the_loopback_redirect(fake: FakeState, fake_url: str, tmp_path: Path) -> None:
    strict_client(fake)
    fake.oauth.login_email = "walker@example.com"
    visited: list[str] = []

    def browser(url: str) -> None:
        """What a browser does: follow Google's redirect back to the CLI's loopback server."""
        visited.append(url)
        landed = httpx.get(url, follow_redirects=True, timeout=10)
        assert landed.status_code == 200 and "Login complete" in landed.text

    lines: list[str] = []
    path = run_login(cli_settings(fake_url, tmp_path), opener=browser, echo=lines.append, wait_seconds=10)

    query = parse_qs(urlsplit(visited[0]).query)
    assert query["client_id"] == [CLIENT_ID] and query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert query["access_type"] == ["offline"] and "cloud-platform" in query["scope"][0]
    assert path == tmp_path / "creds" / "oauth_creds_walker@example.com.json"
    saved = orjson.loads(path.read_bytes())
    assert saved["email"] == "walker@example.com" and saved["refresh_token"].startswith("1//")
    assert saved["code_assist_project"] == fake.oauth.account("walker@example.com").project  # onboarded
    assert fake.oauth.exchanges == 1 and fake.oauth.onboard_calls == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert not [line for line in lines if saved["refresh_token"] in line or saved["access_token"] in line]


def test_cli_login_copy_paste_for_headless_servers(fake: FakeState, fake_url: str, tmp_path: Path) -> None:
    fake.oauth.login_email = "headless@example.com"
    printed: list[str] = []

    def paste() -> str:
        """The user opens the printed URL elsewhere and pastes the address the browser ended on."""
        url = next(line for text in printed for line in text.splitlines() if line.startswith("http"))
        landed = httpx.get(url, follow_redirects=False, timeout=10)
        return landed.headers["location"]

    path = run_login(cli_settings(fake_url, tmp_path), opener=None, read_line=paste, echo=printed.append)
    assert orjson.loads(path.read_bytes())["email"] == "headless@example.com"
    assert "codeassist.google.com" in printed[0]  # the manual redirect URI shows the code to the user


def test_cli_login_refuses_a_wrong_pkce_verifier(fake: FakeState, fake_url: str, tmp_path: Path) -> None:
    def tampered_browser(url: str) -> None:
        wrong = base64.urlsafe_b64encode(hashlib.sha256(b"x" * 50).digest()).rstrip(b"=").decode()
        httpx.get(url.replace("code_challenge=", f"code_challenge={wrong}&ignored="), follow_redirects=True)

    with pytest.raises(LoginError, match="Invalid code verifier"):
        run_login(
            cli_settings(fake_url, tmp_path), opener=tampered_browser, echo=lambda _: None, wait_seconds=10
        )
    assert not (tmp_path / "creds").exists() or not list((tmp_path / "creds").iterdir())


def test_code_from_paste_accepts_the_code_or_the_address() -> None:
    assert code_from_paste("  4/abc-def  ", "s1") == "4/abc-def"
    assert code_from_paste("https://codeassist.google.com/authcode?code=4%2Fxyz&state=s1", "s1") == "4/xyz"
    with pytest.raises(LoginError, match="another login"):
        code_from_paste("http://127.0.0.1:1/oauth2callback?code=4%2Fxyz&state=other", "s1")
    with pytest.raises(LoginError, match="refused"):
        code_from_paste("http://127.0.0.1:1/oauth2callback?error=access_denied&state=s1", "s1")
