"""Logging accounts in: the CLI (loopback and copy-paste) and the management API, against the fake."""

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
from tests.conftest import GatewayFactory
from tests.oauth.helpers import (
    ADMIN,
    CLIENT_ID,
    account_json,
    credential_by_label,
    generate,
    oauth_settings,
    strict_client,
)
from tests.recorder.conftest import wait_for_records


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


def test_api_login_with_the_gateways_own_callback(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    fake.oauth.login_email = "button@example.com"
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds", recording_batch_ms=10)) as running:
        started = httpx.post(f"{running.url}/api/oauth/login", json={}, headers=ADMIN).json()
        assert started["redirect_uri"] == f"{running.url}/admin/oauth2callback"
        status = f"{running.url}/api/oauth/login/{started['state']}"
        assert httpx.get(status, headers=ADMIN).json() == {"status": "waiting"}
        assert httpx.get(status).status_code == 401  # the admin UI polls it, nobody else
        landed = httpx.get(started["auth_url"], follow_redirects=True, timeout=10)  # no admin token here
        assert landed.status_code == 200 and "Added button@example.com" in landed.text
        assert (
            "<script" not in landed.text and "default-src 'self'" in landed.headers["content-security-policy"]
        )
        done = httpx.get(status, headers=ADMIN).json()
        assert done["status"] == "done" and done["account"]["label"] == "button@example.com"
        replay = httpx.get(landed.url, timeout=10)  # the state is single-use
        assert replay.status_code == 400 and "unknown, was finished already" in replay.text
        unknown = httpx.get(f"{running.url}/api/oauth/login/no-such-state", headers=ADMIN)
        assert unknown.status_code == 404
        assert generate(running.url).status_code == 200
        account = credential_by_label(running.url, "button@example.com")["account"]
        assert account["source"] == "store" and account["project"]
        paths = [item["path"] for item in wait_for_records(running.url, 1)]
        assert paths == [
            "/v1beta/models/gemini-2.5-flash:generateContent"
        ]  # the one-time code is not recorded


def test_api_manual_login_add_and_remove(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    fake.oauth.login_email = "pasted@example.com"
    settings = oauth_settings(fake_url, tmp_path / "creds")
    with gateway_factory(**settings) as running:
        started = httpx.post(f"{running.url}/api/oauth/login", json={"mode": "manual"}, headers=ADMIN).json()
        location = httpx.get(started["auth_url"]).headers["location"]
        assert location.startswith("https://codeassist.google.com/authcode?")
        finished = httpx.post(
            f"{running.url}/api/oauth/login/{started['state']}", json={"code": location}, headers=ADMIN
        )
        assert finished.status_code == 201 and finished.json()["label"] == "pasted@example.com"

        pasted = account_json(fake, "file@example.com", shape="geminicli2api")
        added = httpx.post(f"{running.url}/api/oauth/accounts", json=pasted, headers=ADMIN)
        assert added.status_code == 201 and added.json()["added"][0]["new"]
        listing = httpx.get(f"{running.url}/api/oauth/accounts", headers=ADMIN).json()
        assert {a["label"] for a in listing["accounts"]} == {"pasted@example.com", "file@example.com"}
        assert httpx.get(f"{running.url}/api/oauth/accounts").status_code == 401  # admin only
        refresh_token = pasted["refresh_token"]
        assert refresh_token not in httpx.get(f"{running.url}/api/oauth/accounts", headers=ADMIN).text

        cid = added.json()["added"][0]["id"]
        removed = httpx.delete(f"{running.url}/api/oauth/accounts/{cid}", headers=ADMIN).json()
        assert removed["source"] == "store" and removed["note"] is None

    with gateway_factory(**settings) as running:  # stored accounts come back, removed ones do not
        labels = {
            a["label"]
            for a in httpx.get(f"{running.url}/api/oauth/accounts", headers=ADMIN).json()["accounts"]
        }
        assert labels == {"pasted@example.com"}
        assert generate(running.url).status_code == 200


def test_api_login_refused_on_the_consent_page_reports_why(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    fake.oauth.consent = True
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        started = httpx.post(f"{running.url}/api/oauth/login", json={}, headers=ADMIN).json()
        page = httpx.get(started["auth_url"])
        assert page.status_code == 200 and "wants to access your Google Account" in page.text
        denied = httpx.get(started["auth_url"] + "&consent=deny", follow_redirects=True, timeout=10)
        assert denied.status_code == 400 and "access_denied" in denied.text
        status = httpx.get(f"{running.url}/api/oauth/login/{started['state']}", headers=ADMIN).json()
        assert status == {"status": "failed", "error": "Google refused the login: access_denied"}
        assert fake.oauth.exchanges == 0


def test_api_manual_login_keeps_waiting_after_a_wrong_paste(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    fake.oauth.login_email = "retry@example.com"
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        started = httpx.post(f"{running.url}/api/oauth/login", json={"mode": "manual"}, headers=ADMIN).json()
        finish = f"{running.url}/api/oauth/login/{started['state']}"
        location = httpx.get(started["auth_url"]).headers["location"]
        for wrong in ("  ", location.replace(started["state"], "other-state")):
            refused = httpx.post(finish, json={"code": wrong}, headers=ADMIN)
            assert refused.status_code in (400, 422), refused.text
        assert httpx.get(finish, headers=ADMIN).json() == {"status": "waiting"}
        bad_code = httpx.post(finish, json={"code": "4/not-a-code"}, headers=ADMIN)
        assert bad_code.status_code == 400 and "could not be finished" in bad_code.json()["error"]["message"]
        assert httpx.get(finish, headers=ADMIN).json()["status"] == "failed"  # a code is tried once
