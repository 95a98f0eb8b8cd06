"""Logging accounts in through the management API and the gateway's own callback, against the fake."""

from __future__ import annotations

from pathlib import Path

import httpx

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.oauth.helpers import ADMIN, account_json, credential_by_label, generate, oauth_settings
from tests.recorder.conftest import wait_for_records


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
