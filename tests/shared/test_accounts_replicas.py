"""Gemini CLI accounts added or removed on one replica are served or dropped by the others (issue 20)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.oauth.helpers import ADMIN, account_json, generate, oauth_settings
from tests.shared.test_replicas import eventually


def labels(url: str) -> set[str]:
    accounts = httpx.get(f"{url}/api/oauth/accounts", headers=ADMIN).json()["accounts"]
    return {a["label"] for a in accounts}


@pytest.mark.parametrize("shared", ["redis", "store"])
def test_an_account_added_or_removed_on_one_replica_applies_on_the_other(
    replicas: Any, redis_url: str, fake: FakeState, fake_url: str, tmp_path: Path, shared: str
) -> None:
    settings = oauth_settings(fake_url, tmp_path / "creds")
    if shared == "redis":  # else the store's change stamps, polled every 0.2 s
        settings["redis_url"] = redis_url
    with replicas(2, **settings) as (a, b):
        pasted = account_json(fake, "shared@example.com")
        added = httpx.post(f"{a.url}/api/oauth/accounts", json=pasted, headers=ADMIN)
        assert added.status_code == 201, added.text
        eventually(lambda: labels(b.url) == {"shared@example.com"}, "the account listed on B")
        assert generate(b.url).status_code == 200  # and serving there
        cid = added.json()["added"][0]["id"]
        assert httpx.delete(f"{a.url}/api/oauth/accounts/{cid}", headers=ADMIN).status_code == 200
        eventually(lambda: labels(b.url) == set(), "the account gone from B")
        assert generate(b.url).status_code == 503
