"""`/api/keys`: keys added at run time are usable at once, stored encrypted, and never shown."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.pool.credential import Credential
from tests.admin.helpers import admin_client
from tests.conftest import KEYS, GatewayFactory

NEW_KEYS = [
    "AIzaSyFakeNewKeyNumberOne-0001",
    "AIzaSyFakeNewKeyNumberTwo-0002",
    "AIzaSyFakeNewKeyNumber3-0003",
]
CHAT = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def _no_secrets(*responses: httpx.Response) -> None:
    for response in responses:
        for secret in [*KEYS, *NEW_KEYS]:
            assert secret not in response.text, f"{secret} leaked by {response.request.url}"


def _row(client: httpx.Client, label_end: str) -> dict[str, Any]:
    rows = client.get("/api/keys").json()["credentials"]
    return next(r for r in rows if r["label"].endswith(label_end))


def test_add_many_use_at_once_stored_encrypted(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    data = tmp_path / "keys"
    with gateway_factory(gemini_api_keys=[], data_dir=data) as running:
        client = admin_client(running.url)
        pasted = f"# my keys\n{NEW_KEYS[0]}, {NEW_KEYS[1]}\n\n'{NEW_KEYS[0]}'  # again\nbad key"
        added = client.post("/api/keys", json={"keys": pasted})
        assert added.status_code == 201
        body = added.json()
        assert [r["label"] for r in body["added"]] == ["AIza...0001", "AIza...0002"]
        assert body["rejected"] == 2 and body["existing"] == []
        assert {r["source"] for r in body["added"]} == {"stored"}
        again = client.post("/api/keys", json={"keys": [NEW_KEYS[1]]})
        assert again.json()["added"] == [] and len(again.json()["existing"]) == 1
        answer = httpx.post(f"{running.url}/v1/chat/completions", json=CHAT)
        assert answer.status_code == 200 and answer.headers["x-gateway-credential"].startswith("AIza")
        listed = client.get("/api/keys")
        assert listed.json()["summary"]["total"] == 2
        _no_secrets(added, again, listed, answer)

    key_file = data / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with sqlite3.connect(data / "gateway.db") as db:
        stored = dict(db.execute("SELECT label, ciphertext FROM upstream_credentials").fetchall())
    assert set(stored) == {"AIza...0001", "AIza...0002"}
    assert all(key not in text for key in NEW_KEYS for text in stored.values())
    assert (
        Fernet(key_file.read_bytes().strip()).decrypt(stored["AIza...0001"].encode()).decode() == NEW_KEYS[0]
    )

    with gateway_factory(gemini_api_keys=[], data_dir=data) as restarted:
        client = admin_client(restarted.url)
        rows = client.get("/api/keys").json()["credentials"]
        assert sorted(r["label"] for r in rows) == ["AIza...0001", "AIza...0002"]
        assert httpx.post(f"{restarted.url}/v1/chat/completions", json=CHAT).status_code == 200


def test_import_a_file(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        client = admin_client(running.url)
        text = "\n".join(NEW_KEYS) + "\n" + KEYS[0] + "\n"
        response = client.post("/api/keys/import", content=text, headers={"content-type": "text/plain"})
        assert response.status_code == 201
        assert len(response.json()["added"]) == 3 and len(response.json()["existing"]) == 1
        big = client.post("/api/keys/import", content="k" * (1024 * 1024 + 10))
        assert big.status_code == 413
        _no_secrets(response, big)


def test_validate_against_the_upstream(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    fake.valid_keys = {KEYS[0], NEW_KEYS[0]}
    try:
        with gateway_factory() as running:
            client = admin_client(running.url)
            good, bad = _row(client, KEYS[0][-4:]), _row(client, KEYS[1][-4:])
            ok = client.post(f"/api/keys/{good['id']}/validate")
            assert ok.json()["valid"] is True and ok.json()["models"] > 0
            nope = client.post(f"/api/keys/{bad['id']}/validate")
            assert nope.json()["valid"] is False and nope.json()["status"] in (400, 403)
            assert _row(client, KEYS[1][-4:])["validation"]["valid"] is False
            unsaved = client.post("/api/keys/validate", json={"key": NEW_KEYS[0]})
            assert unsaved.json()["valid"] is True
            unknown = client.post("/api/keys/validate", json={"key": NEW_KEYS[1]})
            assert unknown.json()["valid"] is False
            assert [c.key for c in fake.calls][-1] == NEW_KEYS[1]  # through the upstream, with that key
            _no_secrets(ok, nope, unsaved, unknown)
    finally:
        fake.valid_keys = None


def test_disable_enable_reset_remove(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    data = tmp_path / "toggle"
    with gateway_factory(data_dir=data) as running:
        client = admin_client(running.url)
        first = _row(client, KEYS[0][-4:])
        disabled = client.post(f"/api/keys/{first['id']}/disable")
        assert disabled.json()["enabled"] is False and disabled.json()["health"] == "disabled"
        served = {
            httpx.post(f"{running.url}/v1/chat/completions", json=CHAT).headers["x-gateway-credential"]
            for _ in range(6)
        }
        assert first["label"] not in served
        assert _row(client, KEYS[1][-4:])["successes"] > 0
        reset = client.post("/api/keys/reset")
        assert reset.json()["reset"] == 3
        assert all(r["successes"] == 0 for r in client.get("/api/keys").json()["credentials"])
        env_removed = client.delete(f"/api/keys/{_row(client, KEYS[2][-4:])['id']}")
        assert env_removed.json()["source"] == "env" and "GEMINI_API_KEYS" in env_removed.json()["note"]
        added = client.post("/api/keys", json={"keys": NEW_KEYS[0]}).json()["added"][0]
        removed = client.delete(f"/api/keys/{added['id']}")
        assert removed.json() == {"removed": added["id"], "source": "stored", "note": None}
        assert client.delete(f"/api/keys/{added['id']}").status_code == 404
        audit = [e["action"] for e in client.get("/api/audit").json()["entries"]]
        assert {"keys.disable", "keys.reset", "keys.remove", "keys.add"} <= set(audit)
    with gateway_factory(data_dir=data) as restarted:
        rows = admin_client(restarted.url).get("/api/keys").json()["credentials"]
        assert next(r for r in rows if r["id"] == first["id"])["enabled"] is False  # state survives
        assert len(rows) == 3  # the env key is back, the removed stored one is not


def test_credentials_of_other_owners_are_listed_but_not_removed(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory() as running:
        tab = Credential(kind="executor", secret="tab-session-secret-0042", max_concurrency=2)
        running.gateway.pool.add(tab)  # as an executor tab connecting would
        client = admin_client(running.url)
        row = next(r for r in client.get("/api/keys").json()["credentials"] if r["kind"] == "executor")
        assert row["source"] == "runtime" and row["validatable"] is False
        assert row["max_concurrency"] == 2 and "tab-session-secret-0042" not in client.get("/api/keys").text
        assert client.post(f"/api/keys/{row['id']}/validate").status_code == 400
        assert client.delete(f"/api/keys/{row['id']}").status_code == 409
        assert client.post(f"/api/keys/{row['id']}/disable").json()["health"] == "disabled"


def test_a_key_the_gateway_failed_comes_back_when_validated(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory(max_retries=3) as running:
        client = admin_client(running.url)
        fake.add_fault(KEYS[0], "invalid_key", count=1)
        for _ in range(3):  # the round goes through KEYS[0] once: the gateway takes it out
            httpx.post(f"{running.url}/v1/chat/completions", json=CHAT)
        failed = _row(client, KEYS[0][-4:])
        assert failed["health"] == "failed" and failed["enabled"] is True, failed
        checked = client.post(f"/api/keys/{failed['id']}/validate")
        assert checked.json()["valid"] is True
        row = checked.json()["credential"]
        assert row["health"] == "ok" and row["disabled_reason"] is None, row
        audit = client.get("/api/audit").json()["entries"]
        assert any(e["action"] == "keys.recover" and e["target"] == failed["label"] for e in audit)


def test_name_a_credential_kept_across_restarts_and_forgotten_with_it(
    gateway_factory: GatewayFactory, tmp_path: Path
) -> None:
    data = tmp_path / "names"
    with gateway_factory(data_dir=data) as running:
        client = admin_client(running.url)
        env_key = _row(client, KEYS[0][-4:])
        named = client.patch(f"/api/keys/{env_key['id']}", json={"name": "  team  alpha "})
        assert named.status_code == 200 and named.json()["name"] == "team alpha"
        added = client.post("/api/keys", json={"keys": NEW_KEYS[0]}).json()["added"][0]
        client.patch(f"/api/keys/{added['id']}", json={"name": "spare"}).raise_for_status()
        assert client.patch(f"/api/keys/{env_key['id']}", json={"name": "x" * 101}).status_code == 400
        assert client.patch("/api/keys/api_key:nope", json={"name": "n"}).status_code == 404
        client.delete(f"/api/keys/{added['id']}").raise_for_status()
        assert "keys.name" in {e["action"] for e in client.get("/api/audit").json()["entries"]}
    with gateway_factory(data_dir=data) as restarted:
        client = admin_client(restarted.url)
        assert _row(client, KEYS[0][-4:])["name"] == "team alpha"
        again = client.post("/api/keys", json={"keys": NEW_KEYS[0]}).json()["added"][0]
        assert again["name"] is None  # removed with its key
        cleared = client.patch(f"/api/keys/{env_key['id']}", json={"name": ""})
        assert cleared.json()["name"] is None
