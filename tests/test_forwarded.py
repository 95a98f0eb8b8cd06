"""RFC 7239 `Forwarded` parsing: the element the nearest proxy added, or nothing when malformed; and
the forwarded headers believed only from FORWARDED_ALLOW_IPS, under `serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from gemini_gateway.forwarded import forwarded_element
from tests.admin.helpers import from_address
from tests.conftest import KEYS
from tests.servers import CLI_ADMIN_TOKEN, serve_cli


@pytest.mark.parametrize(
    ("value", "element"),
    [
        ("proto=https;host=gw.example.com", {"proto": "https", "host": "gw.example.com"}),
        (
            'For="[2001:db8::1]:4711";Host="gw.example.com:8443"',
            {"for": "[2001:db8::1]:4711", "host": "gw.example.com:8443"},
        ),
        (
            "host=client.example, for=10.0.0.1;host=gw.example.com",
            {"for": "10.0.0.1", "host": "gw.example.com"},
        ),
        ('host="a\\"b"', {"host": 'a"b'}),
        ("host=gw.example.com,", {}),  # the nearest proxy's element is empty
        ("host=gw.example.com;junk", {}),
        ('host="unterminated', {}),
    ],
)
def test_the_last_element_is_read(value: str, element: dict[str, str]) -> None:
    assert forwarded_element(value) == element


def _upload_url(client: httpx.Client, headers: dict[str, str]) -> str:
    """Start a resumable upload; the URL the gateway tells the client to send the bytes to."""
    response = client.post(
        "/upload/v1beta/files",
        headers={
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": "5",
            "x-goog-upload-header-content-type": "text/plain",
            **headers,
        },
        json={"file": {"displayName": "notes"}},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-goog-upload-url"]


def test_forwarded_headers_are_believed_only_from_forwarded_allow_ips(
    tmp_path: Path, fake_url: str, fake: Any
) -> None:
    forged = {
        "origin": "https://evil.example",
        "x-forwarded-host": "evil.example",
        "x-forwarded-proto": "https",
    }
    proxy = {"origin": "https://gw.example", "x-forwarded-host": "gw.example", "x-forwarded-proto": "https"}
    env = {"GEMINI_API_KEYS": KEYS[0], "GEMINI_BASE_URL": fake_url, "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with serve_cli(tmp_path, **env) as served:
        # 127.0.0.2 is loopback too, but not in FORWARDED_ALLOW_IPS.
        with from_address(served.url, "127.0.0.2") as outsider:
            assert _upload_url(outsider, forged).startswith(f"{served.url}/upload/v1beta/files?upload_id=")
            login = outsider.post("/api/session", json={"token": CLI_ADMIN_TOKEN})
            csrf = {"x-csrf-token": login.json()["csrf_token"]}
            created = outsider.post("/api/tokens", json={"name": "forged"}, headers={**csrf, **forged})
            assert created.status_code == 403, created.text
        with from_address(served.url, "127.0.0.1") as behind_proxy:
            assert _upload_url(behind_proxy, proxy).startswith(
                "https://gw.example/upload/v1beta/files?upload_id="
            )
            login = behind_proxy.post("/api/session", json={"token": CLI_ADMIN_TOKEN}, headers=proxy)
            # Its cookies are Secure now (https at the proxy), so httpx would not send them over http.
            session = {"cookie": f"gw_session={login.cookies['gw_session']}"}
            csrf = {"x-csrf-token": login.json()["csrf_token"]}
            created = behind_proxy.post(
                "/api/tokens", json={"name": "proxied"}, headers={**session, **csrf, **proxy}
            )
            assert created.status_code == 201, created.text
