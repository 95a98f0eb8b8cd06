"""Shared bits of the admin tests: a logged-in HTTP client and the routes every check walks."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN

USER_TOKEN = "user-token-for-tests-7f3a"
KEY_ID = "api_key:0000"  # any id: auth is checked before the id is looked up


OPEN_CLIENTS: list[httpx.Client] = []  # closed after each test by the autouse fixture in conftest


def http_client(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=15)
    OPEN_CLIENTS.append(client)
    return client


def admin_client(base_url: str) -> httpx.Client:
    """An HTTP client logged in like the browser: session cookie plus the CSRF header."""
    client = http_client(base_url)
    response = client.post("/api/session", json={"token": ADMIN_TOKEN})
    response.raise_for_status()
    client.headers["x-csrf-token"] = response.json()["csrf_token"]
    return client


def from_address(base_url: str, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address (127.0.0.2, ...)."""
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=15)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


# (method, path, json body or text body): every management route.
ADMIN_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/api/session", None),
    ("GET", "/api/overview", None),
    ("GET", "/api/keys", None),
    ("GET", "/api/models", None),
    ("POST", "/api/keys", {"keys": "fake-key-route-check-0099"}),
    ("POST", "/api/keys/import", "fake-key-route-check-0098\n"),
    ("POST", "/api/keys/validate", {"key": "fake-key-route-check-0097"}),
    ("POST", "/api/keys/reset", None),
    ("POST", f"/api/keys/{KEY_ID}/validate", None),
    ("POST", f"/api/keys/{KEY_ID}/enable", None),
    ("POST", f"/api/keys/{KEY_ID}/disable", None),
    ("POST", f"/api/keys/{KEY_ID}/reset", None),
    ("PATCH", f"/api/keys/{KEY_ID}", {"name": "n"}),
    ("PUT", f"/api/keys/{KEY_ID}/proxy", {"proxy": None}),
    ("DELETE", f"/api/keys/{KEY_ID}", None),
    ("GET", "/api/settings", None),
    ("PUT", "/api/settings", {"values": {"max_retries": 4}}),
    ("DELETE", "/api/settings/max_retries", None),
    ("GET", "/api/audit", None),
    ("GET", "/api/tokens", None),
    ("POST", "/api/tokens", {"name": "route-check"}),
    ("DELETE", "/api/tokens/000000000000", None),
    ("GET", "/api/pool", None),
    ("GET", "/api/logs", None),
    ("GET", "/api/stats", None),
    ("GET", "/api/recorder", None),
    ("POST", "/api/import", {"content": "fake-key-route-check-0096"}),
]


def call(client: httpx.Client, method: str, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    if isinstance(body, str):
        return client.request(method, path, content=body, **kwargs)
    return client.request(method, path, json=body, **kwargs)
