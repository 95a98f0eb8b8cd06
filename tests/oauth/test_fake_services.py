"""The fake OAuth server and fake Code Assist service answer like Google's (what the gateway relies on)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.testing import RunningFake, running_fake
from tests.oauth.helpers import CLIENT_ID, CLIENT_SECRET, strict_client


@pytest.fixture(scope="module")
def service() -> Iterator[RunningFake]:
    with running_fake(FakeState()) as fake:
        yield fake


def test_token_endpoint_errors(service: RunningFake) -> None:
    state = service.state
    state.reset()
    strict_client(state)
    refresh = state.oauth.add_account("t@example.com")
    token = f"{service.url}/token"
    wrong = httpx.post(
        token, data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "x"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    grant = httpx.post(token, data={**form, "grant_type": "password"})
    assert grant.json()["error"] == "unsupported_grant_type"
    ok = httpx.post(token, data={**form, "grant_type": "refresh_token", "refresh_token": refresh})
    assert ok.status_code == 200 and ok.json()["access_token"].startswith("ya29.") and ok.json()["expires_in"]
    state.oauth.revoke(refresh)
    revoked = httpx.post(token, data={**form, "grant_type": "refresh_token", "refresh_token": refresh})
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")
    assert state.oauth.refreshes == 1


def test_code_assist_needs_a_valid_bearer_token(service: RunningFake) -> None:
    state = service.state
    state.reset()
    state.oauth.add_account("u@example.com", onboarded=True)
    expired, _ = state.oauth.issue_access_token("u@example.com", lifetime=-1)
    for headers in ({}, {"authorization": f"Bearer {expired}"}):
        answer = httpx.post(
            f"{service.url}/v1internal:loadCodeAssist", json={"metadata": {}}, headers=headers
        )
        assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"
    valid, _ = state.oauth.issue_access_token("u@example.com")
    loaded = httpx.post(
        f"{service.url}/v1internal:loadCodeAssist",
        json={"metadata": {}},
        headers={"authorization": f"Bearer {valid}"},
    ).json()
    assert loaded["currentTier"]["id"] == "free-tier" and loaded["cloudaicompanionProject"].startswith(
        "fake-"
    )


def test_faults_apply_per_account(service: RunningFake) -> None:
    state = service.state
    state.reset()
    state.oauth.add_account("v@example.com", onboarded=True)
    token, _ = state.oauth.issue_access_token("v@example.com")
    state.add_fault("v@example.com", "429", count=1)
    body = {
        "model": "gemini-2.5-flash",
        "project": state.oauth.account("v@example.com").project,
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    }
    headers = {"authorization": f"Bearer {token}"}
    limited = httpx.post(f"{service.url}/v1internal:generateContent", json=body, headers=headers)
    assert limited.status_code == 429
    assert any(d["@type"].endswith("RetryInfo") for d in limited.json()["error"]["details"])
    served = httpx.post(f"{service.url}/v1internal:generateContent", json=body, headers=headers)
    assert (
        served.status_code == 200 and served.json()["traceId"] and "candidates" in served.json()["response"]
    )
    assert [c.key for c in state.calls] == ["v@example.com", "v@example.com"]
