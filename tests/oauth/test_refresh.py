"""Access tokens: refreshed once under concurrency, written back, and a revoked login disables its account."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.oauth.helpers import (
    MODEL,
    account_json,
    credential_by_label,
    generate,
    oauth_settings,
    strict_client,
    write_account,
)


async def test_fifty_concurrent_requests_with_an_expired_token_refresh_once(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    strict_client(fake)  # the refresh must carry the configured client id and secret
    fake.oauth.refresh_delay_ms = 300  # every request arrives while the one refresh is under way
    data = account_json(fake, "ann@example.com", expired=True)
    path = write_account(tmp_path / "creds", data)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        body = {"contents": [{"role": "user", "parts": [{"text": "Say something about herons"}]}]}
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(f"/v1beta/models/{MODEL}:generateContent", json=body) for _ in range(50))
            )
        assert [a.status_code for a in answers] == [200] * 50
        assert "herons" in answers[0].json()["candidates"][0]["content"]["parts"][0]["text"]
        assert fake.oauth.refreshes == 1
        assert fake.oauth.refreshes_by_token[data["refresh_token"]] == 1
        assert {c.key for c in fake.calls} == {"ann@example.com"}
        view = credential_by_label(running.url, "ann@example.com")
        assert view["successes"] == 50 and view["account"]["refreshes"] == 1

    saved = orjson.loads(path.read_bytes())  # the refreshed token went back to its file
    assert saved["access_token"] != data["access_token"]
    assert saved["refresh_token"] == data["refresh_token"]
    assert saved["expiry_date"] > time.time() * 1000 + 3000 * 1000
    assert path.stat().st_mode & 0o777 == 0o600


def test_token_close_to_expiry_is_refreshed_ahead(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    data = account_json(fake, "ben@example.com")
    data["expiry_date"] = int((time.time() + 120) * 1000)  # still valid, but inside the 5-minute skew
    write_account(tmp_path / "creds", data)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200
        assert fake.oauth.refreshes == 1
        assert generate(running.url).status_code == 200
        assert fake.oauth.refreshes == 1  # the new token lasts an hour


def test_revoked_refresh_token_disables_the_account_with_its_reason(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    revoked = account_json(fake, "cat@example.com", expired=True)
    fake.oauth.revoke(revoked["refresh_token"])
    write_account(tmp_path / "creds", revoked)
    write_account(tmp_path / "creds", account_json(fake, "dan@example.com"))
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds", oauth_routing="weighted")) as running:
        for _ in range(4):  # the revoked account fails over to the other one, then is never chosen again
            assert generate(running.url).status_code == 200
        cat = credential_by_label(running.url, "cat@example.com")
        assert cat["disabled_reason"].startswith("REFRESH_TOKEN_REVOKED")
        assert "creds login" in cat["disabled_reason"]
        assert cat["failures"] == 1
        assert {c.key for c in fake.calls} == {"dan@example.com"}
        assert credential_by_label(running.url, "dan@example.com")["successes"] == 4


def test_all_accounts_revoked_answers_with_the_reason(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    revoked = account_json(fake, "eve@example.com", expired=True)
    fake.oauth.revoke(revoked["refresh_token"])
    write_account(tmp_path / "creds", revoked)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        answer = generate(running.url)
        assert answer.status_code == 401
        assert "revoked" in answer.json()["error"]["message"]
        again = generate(running.url)
        assert again.status_code == 503 and "disabled" in again.json()["error"]["message"]


def test_a_token_code_assist_refuses_is_refreshed_and_the_call_repeated(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    data = account_json(fake, "fay@example.com")
    write_account(tmp_path / "creds", data)
    with gateway_factory(**oauth_settings(fake_url, tmp_path / "creds")) as running:
        assert generate(running.url).status_code == 200
        fake.oauth.revoke_access_tokens("fay@example.com")  # the session ended before the token's expiry
        assert generate(running.url).status_code == 200
        assert fake.oauth.refreshes == 1
        view = credential_by_label(running.url, "fay@example.com")
        assert view["failures"] == 0 and view["disabled_reason"] is None


def test_transient_token_endpoint_failure_fails_over_without_disabling(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    write_account(tmp_path / "creds", account_json(fake, "gus@example.com", expired=True))
    settings = oauth_settings(fake_url, tmp_path / "creds", oauth_token_url="http://127.0.0.1:9/token")
    with gateway_factory(**settings) as running:
        answer = generate(running.url)
        assert answer.status_code == 502
        view = credential_by_label(running.url, "gus@example.com")
        assert view["disabled_reason"] is None and view["failures"] == 1
