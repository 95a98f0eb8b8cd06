"""Accounts in the fake OAuth server, credential files for them, and gateways serving them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN

CLIENT_ID = "test-client-4242.apps.example"
CLIENT_SECRET = "test-client-secret-0f9e8d7c"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
MODEL = "gemini-2.5-flash"


def oauth_settings(fake_url: str, creds_dir: Path, **extra: Any) -> dict[str, Any]:
    """Settings pointing every OAuth and Code Assist URL at the fake; accounts only unless keys are given."""
    values: dict[str, Any] = {
        "gemini_api_keys": [],
        "code_assist_base_url": f"{fake_url}/v1internal",
        "oauth_token_url": f"{fake_url}/token",
        "oauth_auth_url": f"{fake_url}/o/oauth2/v2/auth",
        "oauth_client_id": CLIENT_ID,
        "oauth_client_secret": CLIENT_SECRET,
        "oauth_creds_dir": creds_dir,
        "code_assist_onboard_poll_seconds": 0.02,
        "max_retries": 3,
    }
    values.update(extra)
    return values


def strict_client(fake: FakeState) -> None:
    """Make the fake token endpoint insist on the test client id and secret."""
    fake.oauth.client_id, fake.oauth.client_secret = CLIENT_ID, CLIENT_SECRET


def account_json(
    fake: FakeState,
    email: str,
    *,
    onboarded: bool = True,
    expired: bool = False,
    project_id: str | None = None,
    shape: str = "gemini-cli",
) -> dict[str, Any]:
    """An account in the fake and its credential file content (gemini-cli's shape by default)."""
    refresh = fake.oauth.add_account(email, onboarded=onboarded)
    access, expiry = fake.oauth.issue_access_token(email, lifetime=-60 if expired else 3000)
    if shape == "geminicli2api":
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry))
        data: dict[str, Any] = {"token": access, "refresh_token": refresh, "expiry": iso, "email": email}
        data["scopes"] = ["https://www.googleapis.com/auth/cloud-platform"]
    else:
        data = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expiry_date": int(expiry * 1000),
            "email": email,
        }
    if project_id:
        data["project_id"] = project_id
    return data


def write_account(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"oauth_creds_{data['email']}.json"
    path.write_bytes(orjson.dumps(data))
    return path


def pool_view(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/api/pool", headers=ADMIN)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def credential_by_label(url: str, label: str) -> dict[str, Any]:
    return next(c for c in pool_view(url)["credentials"] if c["label"] == label)


def generate(url: str, text: str = "Tell me about puffins", model: str = MODEL) -> httpx.Response:
    body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    return httpx.post(f"{url}/v1beta/models/{model}:generateContent", json=body, timeout=30)


AG_CLIENT_ID = "test-antigravity-client-77.apps.example"
AG_CLIENT_SECRET = "test-antigravity-secret-3c2b1a"


def antigravity_settings(fake_url: str, creds_dir: Path, **extra: Any) -> dict[str, Any]:
    """oauth_settings plus the Antigravity client and Code Assist root, both at the fake."""
    return oauth_settings(
        fake_url,
        creds_dir,
        antigravity_base_url=f"{fake_url}/v1internal",
        antigravity_client_id=AG_CLIENT_ID,
        antigravity_client_secret=AG_CLIENT_SECRET,
        **extra,
    )
