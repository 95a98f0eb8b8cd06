"""Raw HTTP against the Gemini-native routes: framing, auth, bad input, headers."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import ADMIN_TOKEN, KEYS, GatewayFactory, RunningGateway

BODY = {"contents": [{"role": "user", "parts": [{"text": "Say something about herons"}]}]}
GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def test_sse_framing_uses_crlf_and_ends_with_finish(gateway: RunningGateway, fake: FakeState) -> None:
    fake.config.stream_chunks = 5
    response = httpx.post(gateway.url + STREAM + "?alt=sse", json=BODY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    raw = response.content
    events = raw.split(b"\r\n\r\n")
    assert events[-1] == b"" and all(e.startswith(b"data: ") for e in events[:-1])
    payloads = [orjson.loads(e[6:]) for e in events[:-1]]
    assert len(payloads) >= 5
    assert payloads[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(p["text"] for e in payloads for p in e["candidates"][0]["content"].get("parts", []))
    assert "herons" in text.lower()


def test_default_stream_is_one_json_array(gateway: RunningGateway, fake: FakeState) -> None:
    fake.config.stream_chunks = 3
    response = httpx.post(gateway.url + STREAM, json=BODY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    items = orjson.loads(response.content)
    assert isinstance(items, list) and len(items) >= 3
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"


def test_stream_arrives_chunk_by_chunk(gateway: RunningGateway, fake: FakeState) -> None:
    fake.config.stream_chunks = 4
    fake.config.chunk_delay_ms = 150
    seen = []
    with httpx.stream("POST", gateway.url + STREAM + "?alt=sse", json=BODY) as response:
        for chunk in response.iter_raw():
            if chunk:
                seen.append(chunk)
    assert len(seen) >= 3  # an upstream pause between events means separate reads on our side


def test_gateway_headers(gateway: RunningGateway) -> None:
    response = httpx.post(gateway.url + GEN, json=BODY)
    assert response.status_code == 200
    overhead = float(response.headers["x-gateway-overhead-ms"])
    assert 0 <= overhead < 1000
    label = response.headers["x-gateway-credential"]
    assert "..." in label and label not in KEYS and any(k.startswith(label[:4]) for k in KEYS)


@pytest.mark.parametrize(
    "auth",
    [
        {"headers": {"Authorization": "Bearer client-token-1"}},
        {"headers": {"x-goog-api-key": "client-token-1"}},
        {"headers": {"X-API-Key": "client-token-1"}},
        {"params": {"key": "client-token-1"}},
    ],
)
def test_client_token_in_all_four_forms(gateway_factory: GatewayFactory, fake: FakeState, auth: dict) -> None:
    with gateway_factory(gateway_tokens=["client-token-1"]) as running:
        ok = httpx.post(running.url + GEN, json=BODY, **auth)
        assert ok.status_code == 200, ok.text
        assert fake.calls[-1].key in KEYS  # the client's token never goes upstream
        missing = httpx.post(running.url + GEN, json=BODY)
        assert missing.status_code == 401
        assert missing.json()["error"]["status"] == "UNAUTHENTICATED"
        wrong = httpx.post(running.url + GEN, json=BODY, headers={"x-goog-api-key": "nope"})
        assert wrong.status_code == 403
        assert wrong.json()["error"]["status"] == "PERMISSION_DENIED"
    assert all(c.key != "client-token-1" for c in fake.calls)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "Invalid JSON payload"),
        (b"[1, 2]", "JSON object"),
        (b"", "empty"),
        (b'{"contents": []}', "contents"),
        (b'{"contents": "hello"}', "contents"),
        (b'{"contents": [1, 2]}', "Content"),
    ],
)
def test_bad_input_is_400_in_googles_envelope(gateway: RunningGateway, body: bytes, fragment: str) -> None:
    response = httpx.post(gateway.url + GEN, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and fragment in error["message"]


def test_unknown_routes_and_methods(gateway: RunningGateway) -> None:
    for method, path in [
        ("GET", "/v1beta/nothing-here"),
        ("POST", "/v1beta/models/gemini-2.5-flash:doSomethingElse"),
        ("POST", "/v1beta/models/no-colon-here"),
    ]:
        response = httpx.request(method, gateway.url + path, json=BODY)
        assert response.status_code == 404, path
        assert response.json()["error"]["status"] == "NOT_FOUND"


def test_upstream_request_errors_pass_through_unchanged(gateway: RunningGateway, fake: FakeState) -> None:
    response = httpx.post(gateway.url + GEN, json={**BODY, "notAField": 1})
    assert response.status_code == 400
    assert "notAField" in response.json()["error"]["message"]
    assert len(fake.calls) <= 1  # not retried on other keys


def test_oversized_body_is_413(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(max_request_bytes=1000) as running:
        big = {"contents": [{"parts": [{"text": "x" * 5000}]}]}
        response = httpx.post(running.url + GEN, json=big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == 413


def test_alias_prefix(gateway: RunningGateway) -> None:
    response = httpx.post(gateway.url + "/gemini/v1beta/models/gemini-2.5-flash:generateContent", json=BODY)
    assert response.status_code == 200 and response.json()["candidates"]


def test_health_and_ready(gateway: RunningGateway, gateway_factory: GatewayFactory) -> None:
    replica = gateway.gateway.settings.resolved_replica_id
    assert httpx.get(gateway.url + "/health").json() == {"status": "ok", "replica": replica}
    ready = httpx.get(gateway.url + "/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    with gateway_factory(gemini_api_keys=[]) as empty:
        not_ready = httpx.get(empty.url + "/health/ready")
        assert not_ready.status_code == 503 and "no upstream credentials" in str(not_ready.json()["problems"])


def test_pool_api_needs_the_admin_token(gateway: RunningGateway) -> None:
    httpx.post(gateway.url + GEN, json=BODY)
    for path in ("/api/pool", "/api/load-balancing", "/api/locks"):
        assert httpx.get(gateway.url + path).status_code == 401
        assert httpx.get(gateway.url + path, headers={"Authorization": "Bearer wrong"}).status_code == 403
        response = httpx.get(gateway.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert response.status_code == 200
        assert not any(key in response.text for key in KEYS)
    pool = httpx.get(gateway.url + "/api/pool", headers={"x-goog-api-key": ADMIN_TOKEN}).json()
    assert pool["summary"]["total"] == 3
    assert sum(c["successes"] for c in pool["credentials"]) == 1
