"""Who may use the management API: sessions, CSRF, origins, tiers, brakes on guessing, CORS."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson
import pytest
import websockets

from tests.admin.helpers import ADMIN_ROUTES, USER_TOKEN, admin_client, bearer, call, from_address
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory, RunningGateway


@pytest.fixture
def running(shared_gateway: RunningGateway) -> RunningGateway:
    return shared_gateway


@pytest.mark.parametrize(
    ("method", "path", "body"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p, _ in ADMIN_ROUTES]
)
def test_every_admin_route_needs_the_admin(
    running: RunningGateway, method: str, path: str, body: Any
) -> None:
    with httpx.Client(base_url=running.url) as client:
        anonymous = call(client, method, path, body)
        assert anonymous.status_code == 401, anonymous.text
        user = call(client, method, path, body, headers=bearer(USER_TOKEN))
        assert user.status_code == 403, user.text
        assert "admin" in user.json()["error"]["message"]
        admin = call(client, method, path, body, headers=bearer(ADMIN_TOKEN))
        assert admin.status_code not in (401, 403), admin.text
    session = admin_client(running.url)
    assert call(session, method, path, body).status_code not in (401, 403)


def test_login_gives_a_strict_session_cookie_never_the_token(running: RunningGateway) -> None:
    with httpx.Client(base_url=running.url) as client:
        response = client.post("/api/session", json={"token": ADMIN_TOKEN})
    assert response.status_code == 200
    assert ADMIN_TOKEN not in response.text
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("gw_session="))
    csrf = next(c for c in cookies if c.startswith("gw_csrf="))
    assert ADMIN_TOKEN not in session
    assert "HttpOnly" in session and "SameSite=strict" in session and "Secure" not in session
    assert "HttpOnly" not in csrf and "SameSite=strict" in csrf  # the page must read it to send it back
    assert response.json()["csrf_token"] in csrf


def test_cookies_are_secure_behind_an_https_proxy(running: RunningGateway) -> None:
    https = {"x-forwarded-proto": "https"}
    response = httpx.post(f"{running.url}/api/session", json={"token": ADMIN_TOKEN}, headers=https)
    assert all("Secure" in c for c in response.headers.get_list("set-cookie"))
    # 127.0.0.2 is not in FORWARDED_ALLOW_IPS: what it says about the scheme is not believed.
    with from_address(running.url, "127.0.0.2") as client:
        untrusted = client.post("/api/session", json={"token": ADMIN_TOKEN}, headers=https)
    assert not any("Secure" in c for c in untrusted.headers.get_list("set-cookie"))


def test_the_origin_check_believes_forwarded_hosts_only_from_trusted_proxies(running: RunningGateway) -> None:
    evil = {"origin": "http://evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "http"}
    with from_address(running.url, "127.0.0.2") as client:
        login = client.post("/api/session", json={"token": ADMIN_TOKEN})
        csrf = {"x-csrf-token": login.json()["csrf_token"]}
        forged = client.post("/api/tokens", json={"name": "forged-origin"}, headers={**csrf, **evil})
        assert forged.status_code == 403, forged.text
    # The proxy in FORWARDED_ALLOW_IPS names the public address the browser's Origin carries.
    public = {"origin": "https://gw.example", "x-forwarded-host": "gw.example", "x-forwarded-proto": "https"}
    client = admin_client(running.url)
    assert client.post("/api/tokens", json={"name": "via-proxy"}, headers=public).status_code == 201


def test_writes_with_the_cookie_need_the_csrf_header(running: RunningGateway) -> None:
    client = admin_client(running.url)
    csrf = client.headers.pop("x-csrf-token")
    assert client.get("/api/keys").status_code == 200  # reads need no CSRF token
    missing = client.post("/api/keys/reset")
    assert missing.status_code == 403 and "CSRF" in missing.json()["error"]["message"]
    assert client.post("/api/keys/reset", headers={"x-csrf-token": csrf + "x"}).status_code == 403
    assert client.post("/api/keys/reset", headers={"x-csrf-token": csrf}).status_code == 200


def test_admin_routes_refuse_other_origins_and_send_no_cors(running: RunningGateway) -> None:
    client = admin_client(running.url)
    evil = {"origin": "https://evil.example"}
    assert client.get("/api/keys", headers=evil).status_code == 403
    assert client.post("/api/keys/reset", headers=evil).status_code == 403
    assert httpx.get(f"{running.url}/api/keys", headers={**evil, **bearer(ADMIN_TOKEN)}).status_code == 403
    same = client.post("/api/keys/reset", headers={"origin": running.url})
    assert same.status_code == 200
    assert not any(k.startswith("access-control") for k in same.headers)
    cross_site = client.get("/api/keys", headers={"sec-fetch-site": "cross-site"})
    assert cross_site.status_code == 403


def test_client_api_cors_only_for_configured_origins(gateway_factory: GatewayFactory, fake: Any) -> None:
    allowed = "https://chat.example"
    with gateway_factory(cors_origins=[allowed]) as running:
        preflight = {
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization",
        }
        ok = httpx.options(f"{running.url}/v1/chat/completions", headers={"origin": allowed, **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == allowed
        other = httpx.options(
            f"{running.url}/v1/chat/completions", headers={"origin": "https://x.example", **preflight}
        )
        assert other.headers.get("access-control-allow-origin") is None
        admin = httpx.options(f"{running.url}/api/keys", headers={"origin": allowed, **preflight})
        assert admin.headers.get("access-control-allow-origin") is None
        answer = httpx.post(
            f"{running.url}/v1/chat/completions",
            json={"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]},
            headers={"origin": allowed},
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == allowed
        assert "x-gateway-credential" in answer.headers["access-control-expose-headers"]


def test_a_user_token_cannot_log_in(running: RunningGateway) -> None:
    response = httpx.post(f"{running.url}/api/session", json={"token": USER_TOKEN})
    assert response.status_code == 403


def test_logout_ends_the_session(running: RunningGateway) -> None:
    client = admin_client(running.url)
    assert client.get("/api/session").json()["via"] == "session"
    response = client.delete("/api/session")
    assert response.status_code == 200
    assert client.get("/api/keys").status_code == 401


def test_playground_uses_the_session_with_csrf_only(running: RunningGateway) -> None:
    client = admin_client(running.url)
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello"}]}
    answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 200 and answer.headers["x-gateway-credential"]
    csrf = client.headers.pop("x-csrf-token")
    assert client.post("/v1/chat/completions", json=body).status_code == 401  # cookie alone: no
    assert (
        client.post("/v1/chat/completions", json=body, headers={"x-csrf-token": csrf[::-1]}).status_code
        == 401
    )


def test_live_log_socket_is_admin_only(running: RunningGateway) -> None:
    url = running.url.replace("http://", "ws://") + "/ws/logs"

    async def scenario() -> list[dict[str, Any]]:
        for headers in ({}, bearer(USER_TOKEN), {**bearer(ADMIN_TOKEN), "origin": "https://evil.example"}):
            with pytest.raises(websockets.InvalidStatus):
                async with websockets.connect(url, additional_headers=headers):
                    pass
        async with websockets.connect(url, additional_headers=bearer(ADMIN_TOKEN)) as socket:
            hello = httpx.AsyncClient(base_url=running.url, headers=bearer(USER_TOKEN))
            assert (await asyncio.wait_for(socket.recv(), 5)).startswith('{"type":"hello"')
            body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "live"}]}
            await hello.post("/v1/chat/completions", json=body)
            await hello.aclose()
            while True:  # log lines from anywhere in the process may come first
                event = orjson.loads(await asyncio.wait_for(socket.recv(), 5))
                if event["type"] == "request":
                    return [event]

    # Its own thread and loop: the session's Playwright browser may own this thread's loop.
    with ThreadPoolExecutor(1) as pool:
        [event] = pool.submit(asyncio.run, scenario()).result(timeout=30)
    assert event["type"] == "request" and event["path"] == "/v1/chat/completions" and event["status"] == 200
    assert event["credential"] and event["client"].startswith("token:")
    assert all(secret not in str(event) for secret in [*KEYS, USER_TOKEN])


def test_openapi_documents_the_management_api(running: RunningGateway) -> None:
    paths = httpx.get(f"{running.url}/openapi.json").json()["paths"]
    for path in (
        "/api/keys",
        "/api/keys/import",
        "/api/settings",
        "/api/tokens",
        "/api/session",
        "/api/audit",
    ):
        assert path in paths
