"""OAUTH_CREDS_JSON accounts: refreshed tokens and the project survive a restart, encrypted in the store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import GatewayFactory
from tests.oauth.helpers import ADMIN, account_json, credential_by_label, generate, oauth_settings

EMAIL = "env@example.com"


def stored_rows(data_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "gateway.db") as db:
        return db.execute("SELECT credential_id, kind, ciphertext FROM upstream_credentials").fetchall()


def env_settings(fake_url: str, tmp_path: Path, *entries: dict[str, Any]) -> dict[str, Any]:
    listed = orjson.dumps(list(entries)).decode()
    return oauth_settings(fake_url, tmp_path / "creds", oauth_creds_json=listed, data_dir=tmp_path / "data")


def test_refreshed_tokens_of_env_accounts_survive_a_restart(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    entry = account_json(fake, EMAIL, expired=True, onboarded=False)
    settings = env_settings(fake_url, tmp_path, entry)
    with gateway_factory(**settings) as running:
        assert generate(running.url).status_code == 200
        assert (fake.oauth.refreshes, fake.oauth.onboard_calls) == (1, 1)
        account = credential_by_label(running.url, EMAIL)["account"]
        assert account["source"] == "env" and account["origin"] == "OAUTH_CREDS_JSON[0]"

    [(row_id, kind, ciphertext)] = stored_rows(tmp_path / "data")
    assert kind == "oauth_env" and row_id.startswith("oauth_env:")
    database = (tmp_path / "data" / "gateway.db").read_bytes()
    for secret in fake.oauth.issued:  # encrypted: no token of this account is readable in the file
        assert secret.encode() not in database and secret not in ciphertext

    with gateway_factory(**settings) as restarted:  # the same environment: no refresh, no onboarding
        assert generate(restarted.url).status_code == 200
        assert (fake.oauth.refreshes, fake.oauth.onboard_calls, fake.oauth.load_calls) == (1, 1, 1)
        account = credential_by_label(restarted.url, EMAIL)["account"]
        assert account["source"] == "env" and account["token_expires_in"] > 3000
        assert account["project"] == fake.oauth.account(EMAIL).project

    settings.pop("oauth_creds_json")
    with gateway_factory(**settings):  # the entry is gone from the environment, and so is its copy
        assert stored_rows(tmp_path / "data") == []


def test_a_changed_env_entry_wins_over_the_stored_tokens(
    gateway_factory: GatewayFactory, fake: FakeState, fake_url: str, tmp_path: Path
) -> None:
    old = account_json(fake, EMAIL, expired=True)
    with gateway_factory(**env_settings(fake_url, tmp_path, old)) as running:
        assert generate(running.url).status_code == 200

    fake.oauth.revoke(old["refresh_token"])
    new = account_json(fake, EMAIL, expired=True)  # logged in again, pasted into the environment
    with gateway_factory(**env_settings(fake_url, tmp_path, new)) as restarted:
        assert generate(restarted.url).status_code == 200
        assert fake.oauth.refreshes_by_token[new["refresh_token"]] == 1
        assert [kind for _, kind, _ in stored_rows(tmp_path / "data")] == ["oauth_env"]
        account_id = credential_by_label(restarted.url, EMAIL)["id"]
        removed = httpx.delete(f"{restarted.url}/api/oauth/accounts/{account_id}", headers=ADMIN).json()
        assert removed["source"] == "env" and "OAUTH_CREDS_JSON[0]" in removed["note"]
        assert stored_rows(tmp_path / "data") == []  # removing it drops the stored copy too
