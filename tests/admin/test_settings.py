"""`/api/settings`: sources, validation, live effect, storage over the environment, audit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from gemini_gateway.backends.executor import ExecutorBackend
from gemini_gateway.fake_upstream import FakeState
from tests.admin.helpers import admin_client
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory


def _settings(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in client.get("/api/settings").json()["settings"]}


def _chat(url: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )


def test_sources_and_masked_secrets(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(max_retries=2, upstream_proxy=None) as running:
        client = admin_client(running.url)
        response = client.get("/api/settings")
        items = {item["name"]: item for item in response.json()["settings"]}
        assert items["max_retries"]["source"] == "env" and items["max_retries"]["value"] == 2
        assert items["pool_strategy"]["source"] == "default" and items["pool_strategy"]["editable"]
        assert items["admin_token"] == items["admin_token"] | {
            "editable": False,
            "secret": True,
            "value": "•••••• (set)",
        }
        assert items["gemini_api_keys"]["value"] == ["fake...0001", "fake...0002", "fake...0003"]
        assert items["upstream_timeout"]["live"] is False and items["max_retries"]["live"] is True
        assert ADMIN_TOKEN not in response.text and not any(key in response.text for key in KEYS)


def test_invalid_values_are_refused_whole(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        client = admin_client(running.url)
        values = {
            "max_retries": 50,
            "pool_strategy": "random",
            "host": "0.0.0.0",
            "nope": 1,
            "log_level": "loud",
        }
        response = client.put("/api/settings", json={"values": {**values, "cooldown_base_seconds": 9}})
        assert response.status_code == 422
        message = response.json()["error"]["message"]
        for name in values:
            assert name in message
        assert _settings(client)["cooldown_base_seconds"]["value"] == 30  # nothing applied
        assert running.gateway.dispatcher.base_cooldown == 30


def test_edits_apply_at_once_and_are_audited(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        client = admin_client(running.url)
        assert _chat(running.url, "house-model").status_code == 404
        values = {
            "max_retries": 6,
            "pool_strategy": "round_robin",
            "model_aliases": {"house-model": "gemini-2.5-flash"},
        }
        response = client.put("/api/settings", json={"values": values})
        assert response.status_code == 200
        assert all(change["applied_now"] for change in response.json()["changed"])
        gateway = running.gateway
        assert gateway.dispatcher.max_retries == 6 and gateway.pool.strategy == "round_robin"
        assert _chat(running.url, "house-model").status_code == 200
        items = _settings(client)
        assert items["max_retries"]["source"] == "stored" and items["max_retries"]["overrides_env"] is False
        unchanged = client.put("/api/settings", json={"values": {"max_retries": 6}})
        assert unchanged.json()["changed"] == []
        entries = client.get("/api/audit").json()["entries"]
        change = next(e for e in entries if e["target"] == "max_retries")
        assert change == change | {"actor": "admin", "action": "settings.change", "old": 3, "new": 6}


def test_recording_mode_changes_without_restart(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory() as running:
        client = admin_client(running.url)
        client.put("/api/settings", json={"values": {"recording_mode": "metadata"}})
        assert _chat(running.url, "gemini-2.5-flash").status_code == 200
        deadline = time.monotonic() + 60
        while not (items := client.get("/api/logs").json()["items"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert items[0]["mode"] == "metadata"


def test_secret_bearing_setting_is_masked_and_encrypted(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    data = tmp_path / "proxy"
    with gateway_factory(data_dir=data) as running:
        client = admin_client(running.url)
        proxy = "http://proxyuser:hunter2secret@127.0.0.1:9"
        response = client.put("/api/settings", json={"values": {"upstream_proxy": proxy}})
        assert response.json()["changed"] == [
            {"name": "upstream_proxy", "applied_now": False, "restart_needed": True}
        ]
        assert "hunter2secret" not in response.text and "hunter2secret" not in client.get("/api/audit").text
        assert _settings(client)["upstream_proxy"]["value"] == "http://***@127.0.0.1:9"
        with sqlite3.connect(data / "gateway.db") as db:
            [stored] = db.execute(
                "SELECT value FROM settings_overrides WHERE name='upstream_proxy'"
            ).fetchone()
        assert "hunter2secret" not in stored and "$encrypted" in stored
        assert client.delete("/api/settings/upstream_proxy").status_code == 200


def test_stored_value_overrides_env_and_says_so(
    gateway_factory: GatewayFactory, fake: FakeState, tmp_path: Path
) -> None:
    data = tmp_path / "override"
    with gateway_factory(data_dir=data, max_retries=2) as running:
        admin_client(running.url).put(
            "/api/settings", json={"values": {"max_retries": 7, "upstream_timeout": 120}}
        )
    with gateway_factory(data_dir=data, max_retries=2) as restarted:
        client = admin_client(restarted.url)
        item = _settings(client)["max_retries"]
        assert item["value"] == 7 and item["source"] == "stored"
        assert item["overrides_env"] is True and item["environment_value"] == 2
        assert restarted.gateway.dispatcher.max_retries == 7
        assert restarted.gateway.settings.upstream_timeout == 120  # restart-only settings apply at start
        # ... to what start-up builds after the stored values are read: the transports and backends
        assert restarted.gateway.transports is not None and restarted.gateway.transports.read_timeout == 120
        executor = restarted.gateway.dispatcher.backends["executor"]
        assert isinstance(executor, ExecutorBackend) and executor.idle_timeout == 120
        reset = client.delete("/api/settings/max_retries")
        assert reset.status_code == 200
        assert restarted.gateway.dispatcher.max_retries == 2
        item = _settings(client)["max_retries"]
        assert item["source"] == "env" and item["overrides_env"] is False
        assert client.delete("/api/settings/max_retries").status_code == 409


def test_an_edit_builds_new_settings_and_leaves_the_old_object_as_it_was(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory(max_retries=2) as running:
        client = admin_client(running.url)
        before = running.gateway.settings
        assert client.put("/api/settings", json={"values": {"max_retries": 6}}).status_code == 200
        after = running.gateway.settings
        assert after is not before and (before.max_retries, after.max_retries) == (2, 6)
        assert running.gateway.dispatcher.max_retries == 6
        assert client.delete("/api/settings/max_retries").status_code == 200
        assert running.gateway.settings.max_retries == 2 and after.max_retries == 6
        assert running.gateway.dispatcher.max_retries == 2
