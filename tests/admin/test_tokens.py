"""`/api/tokens`: shown once, stored hashed, tiers, allow-lists, rate limits, revocation, restarts."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import httpx

from gemini_gateway.fake_upstream import FakeState
from tests.admin.helpers import admin_client, bearer, http_client
from tests.conftest import ADMIN_TOKEN, GatewayFactory

CHAT = {"messages": [{"role": "user", "content": "hi"}]}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def _chat(url: str, token: str | None, model: str = "gemini-2.5-flash") -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.post(f"{url}/v1/chat/completions", json={**CHAT, "model": model}, headers=headers)


def test_token_shown_once_hashed_and_usable(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    data = tmp_path / "tokens"
    with gateway_factory(data_dir=data) as running:
        client = admin_client(running.url)
        assert client.get("/api/tokens").json()["open"] is True
        assert _chat(running.url, None).status_code == 200  # open: no user token exists yet
        created = client.post("/api/tokens", json={"name": "laptop"})
        assert created.status_code == 201
        body = created.json()
        token = body["token"]
        assert token.startswith("gw-") and len(token) > 40 and body["hint"] == f"gw-…{token[-4:]}"
        assert "requires a client token" in body["note"]
        listed = client.get("/api/tokens")
        assert token not in listed.text and listed.json()["open"] is False
        assert _chat(running.url, None).status_code == 401
        assert _chat(running.url, token).status_code == 200
        digest = hashlib.sha256(token.encode()).hexdigest()
        deadline = time.monotonic() + 60  # the recorder writes in batches
        while f"token:{digest[:8]}" not in (
            ids := {i["client_id"] for i in client.get("/api/logs").json()["items"]}
        ):
            assert time.monotonic() < deadline, f"the call with the token was never recorded: {ids}"
            time.sleep(0.05)
        assert token not in client.get("/api/audit").text
    with sqlite3.connect(data / "gateway.db") as db:
        rows = db.execute("SELECT digest, hint FROM client_tokens").fetchall()
    assert rows == [(digest, body["hint"])]
    with gateway_factory(data_dir=data) as restarted:  # loaded into the Authenticator at start-up
        assert _chat(restarted.url, token).status_code == 200
        assert _chat(restarted.url, None).status_code == 401


def test_model_allow_list_and_rate_limit_in_each_dialect(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory() as running:
        client = admin_client(running.url)
        spec = {"name": "ci", "models": ["gemini-2.5-flash", " models/gemini-2.5-pro "], "rate_limit": 3}
        created = client.post("/api/tokens", json=spec).json()
        assert created["models"] == ["gemini-2.5-flash", "gemini-2.5-pro"]
        token = created["token"]
        refused = _chat(running.url, token, model="gemini-2.0-flash")
        assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
        assert _chat(running.url, token).status_code == 200

        def native() -> httpx.Response:
            return httpx.post(
                f"{running.url}/v1beta/models/gemini-2.5-flash:generateContent",
                json=GEMINI_BODY,
                headers={"x-goog-api-key": token},
            )

        assert native().status_code == 200  # the third request of three a minute
        limited = _chat(running.url, token)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert "3 requests per minute" in limited.json()["error"]["message"]
        google = native()
        assert google.status_code == 429 and google.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        anthropic = httpx.post(
            f"{running.url}/v1/messages",
            json={
                "model": "gemini-2.5-flash",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "hi"}],
            },
            headers={"x-api-key": token, "anthropic-version": "2023-06-01"},
        )
        assert anthropic.status_code == 429 and anthropic.json()["error"]["type"] == "rate_limit_error"


def test_revoke_and_admin_tier(gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path) -> None:
    data = tmp_path / "revoke"
    with gateway_factory(data_dir=data) as running:
        client = admin_client(running.url)
        client.post("/api/tokens", json={"name": "keeper"})  # one user token stays: the API stays closed
        user = client.post("/api/tokens", json={"name": "user"}).json()
        admin = client.post("/api/tokens", json={"name": "ops", "tier": "admin"}).json()
        assert httpx.get(f"{running.url}/api/keys", headers=bearer(admin["token"])).status_code == 200
        assert httpx.get(f"{running.url}/api/keys", headers=bearer(user["token"])).status_code == 403
        ops = http_client(running.url)
        login = ops.post("/api/session", json={"token": admin["token"]})
        assert login.status_code == 200 and login.json()["identity"] == admin["client_id"]
        assert ops.get("/api/keys").status_code == 200
        for token in (user, admin):
            assert client.delete(f"/api/tokens/{token['id']}").status_code == 200
        assert _chat(running.url, user["token"]).status_code == 403
        assert httpx.get(f"{running.url}/api/keys", headers=bearer(admin["token"])).status_code == 403
        assert ops.get("/api/keys").status_code == 401  # its sessions ended with it
        statuses = {
            t["name"]: t["revoked_at"] is not None for t in client.get("/api/tokens").json()["tokens"]
        }
        assert statuses == {"keeper": False, "user": True, "ops": True, "ADMIN_TOKEN": False}
        assert client.delete("/api/tokens/unknown").status_code == 404
        actions = [e["action"] for e in client.get("/api/audit").json()["entries"]]
        assert actions.count("tokens.revoke") == 2 and actions.count("tokens.create") == 3
    with gateway_factory(data_dir=data) as restarted:
        assert _chat(restarted.url, user["token"]).status_code in (401, 403)
        assert httpx.get(f"{restarted.url}/api/keys", headers=bearer(ADMIN_TOKEN)).status_code == 200


def test_bad_token_specs_are_refused(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        client = admin_client(running.url)
        for spec in ({"name": ""}, {"name": "x", "tier": "root"}, {"name": "x", "rate_limit": 0}):
            assert client.post("/api/tokens", json=spec).status_code == 400


def test_a_resource_call_counts_once_against_the_rate_limit(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory() as running:
        token = admin_client(running.url).post("/api/tokens", json={"name": "jobs", "rate_limit": 2}).json()
        headers = {"x-goog-api-key": token["token"]}
        batch = {"batch": {"inputConfig": {"requests": {"requests": [{"request": GEMINI_BODY}]}}}}
        created = httpx.post(
            f"{running.url}/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=batch, headers=headers
        )
        assert created.status_code == 200, created.text
        assert _chat(running.url, token["token"]).status_code == 200  # the second request of two a minute
        assert _chat(running.url, token["token"]).status_code == 429
