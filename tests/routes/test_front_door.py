"""The front door: which requests skip FastAPI's router, and that they lose nothing by it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.routing import Route

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.observe import Finished
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send
from gemini_gateway.routes.front_door import HotRoutes
from tests.conftest import ADMIN_TOKEN, GatewayFactory, RunningGateway
from tests.recorder.conftest import RECORDING, record, wait_for_records


async def _first(scope: Scope, receive: Receive, send: Send) -> None:
    """A stand-in endpoint."""


async def _second(scope: Scope, receive: Receive, send: Send) -> None:
    """Another stand-in endpoint."""


def test_hot_routes_match_fixed_paths_and_single_segment_params_in_router_order() -> None:
    first, second = ASGIEndpoint(_first), ASGIEndpoint(_second)
    hot = HotRoutes(
        [
            Route("/v1/models", second, methods=["GET"]),  # not a POST: the router's business
            Route("/v1/chat/completions", first, methods=["POST"]),
            Route("/v1/chat/completions", second, methods=["POST"]),  # shadowed, as in Starlette
            Route("/v1beta/models/{target}", first, methods=["POST"]),
            Route("/v1/files/{name:path}", second, methods=["POST"]),  # multi-segment: the router's
            Route("/v1/plain", lambda request: None, methods=["POST"]),  # a request/response handler
        ]
    )
    assert hot.match("/v1/chat/completions") == (first, {})
    assert hot.match("/v1beta/models/gemini-2.5-flash:generateContent") == (
        first,
        {"target": "gemini-2.5-flash:generateContent"},
    )
    assert hot.match("/v1beta/models/a/b:generateContent") is None
    assert hot.match("/v1/models") is None
    assert hot.match("/v1/files/abc/def") is None
    assert hot.match("/v1/plain") is None


def test_indexed_and_other_patterns_keep_the_routers_order() -> None:
    first, second = ASGIEndpoint(_first), ASGIEndpoint(_second)
    hot = HotRoutes(
        [
            Route("/v1/{kind}/x/cancel", first, methods=["POST"]),  # parameter not last: tried for all
            Route("/v1/models/{model}:batch", second, methods=["POST"]),
            Route("/v1/models/{target}", first, methods=["POST"]),
            Route("/v1/other/{target}", second, methods=["POST"]),
        ]
    )
    assert hot.match("/v1/models/m:batch") == (second, {"model": "m"})  # before the catch-all
    assert hot.match("/v1/models/m:generateContent") == (first, {"target": "m:generateContent"})
    assert hot.match("/v1/models/x/cancel") == (first, {"kind": "models"})  # the earlier route wins
    assert hot.match("/v1/other/o") == (second, {"target": "o"})
    assert hot.match("/v1/nothing/o") is None


def _native(gateway: RunningGateway) -> str:
    return f"{gateway.url}/v1beta/models/gemini-2.5-flash:generateContent"


BODY = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}


def test_a_bug_in_a_model_call_is_a_500_in_googles_envelope_and_the_server_lives_on(
    gateway: RunningGateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-looking internals")

    monkeypatch.setattr(gateway.gateway.dispatcher, "unary", broken)
    headers = {"x-goog-api-key": ADMIN_TOKEN}
    answer = httpx.post(_native(gateway), json=BODY, headers=headers, timeout=10)
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == 500 and error["status"] == "INTERNAL"
    assert "secret-looking" not in answer.text and "Traceback" not in answer.text
    assert any("unexpected error on POST" in r.getMessage() for r in caplog.records)

    monkeypatch.undo()
    assert httpx.post(_native(gateway), json=BODY, headers=headers, timeout=10).status_code == 200


def test_model_calls_still_pass_the_middleware_and_other_paths_still_reach_fastapi(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    with gateway_factory(gateway_tokens=["client-token-7f3a"]) as gateway:
        refused = httpx.post(_native(gateway), json=BODY, timeout=10)
        assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
        served = httpx.post(_native(gateway), json=BODY, headers={"x-goog-api-key": "client-token-7f3a"})
        assert served.status_code == 200 and served.headers["x-gateway-credential"]
        # The recorder is user middleware: both calls are in the store.
        records = wait_for_records(gateway.url, 2)
        assert sorted(r["status"] for r in records) == [200, 401]
        _fastapi_paths(gateway)


def _fastapi_paths(gateway: RunningGateway) -> None:
    # A GET on the same path, and a POST nobody serves, are FastAPI's: Google-shaped 404/405.
    missing = httpx.post(f"{gateway.url}/v1beta/nothing-here", json=BODY, timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
    headers = {"x-goog-api-key": "client-token-7f3a"}
    listed = httpx.get(f"{gateway.url}/v1beta/models", headers=headers, timeout=10)
    assert listed.status_code == 200 and "models" in listed.json()


# The front door serves model calls through `DirectCalls`: the gateway's middleware done in one
# frame, with one `send` wrapper. The same calls through the middleware chain must leave the same
# records, tell observers the same, and answer the same bytes.

STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
VOLATILE = {
    "id",
    "received_at_ms",
    "duration_ms",
    "first_byte_ms",
    "upstream_ms",
    "credential",
    "credential_id",
}


class Told:
    """An observer that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[Finished] = []

    def finished(self, call: Finished) -> None:
        self.calls.append(call)


def _stable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without what differs from one call to the next (times, ids, which key served)."""
    kept = {k: v for k, v in record.items() if k not in VOLATILE and not k.endswith("_at")}
    kept["attempts"] = [(a["status"], a["error"]) for a in record.get("attempts") or []]
    headers = dict(record.get("response_headers") or {})
    for name in ("x-gateway-credential", "x-gateway-overhead-ms", "date"):
        headers.pop(name, None)
    kept["response_headers"] = headers
    return kept


def _scenario(gateway: RunningGateway, fake: FakeState) -> list[bytes]:
    """Calls that end every way a model call can; the bodies the client got."""
    url, headers = gateway.url, {"x-goog-api-key": "client-token-7f3a"}
    bodies = [
        httpx.post(_native(gateway), json=BODY, headers=headers, timeout=10).content,
        httpx.post(url + STREAM, json=BODY, headers=headers, timeout=10).content,
        httpx.post(_native(gateway), json=BODY, timeout=10).content,  # no token: 401 before any byte
        httpx.post(
            f"{url}/v1/chat/completions",
            json={
                "model": "gemini-2.5-flash",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
            },
            headers={"authorization": "Bearer client-token-7f3a"},
            timeout=10,
        ).content,
    ]
    fake.add_fault(None, "cut", count=1, after_chunks=2)  # the upstream breaks off mid-stream
    got = b""
    with httpx.Client() as client, client.stream("POST", url + STREAM, json=BODY, headers=headers) as cut:
        try:
            for chunk in cut.iter_bytes():
                got += chunk
        except httpx.RemoteProtocolError:  # the gateway can only break the connection off
            pass
    bodies.append(got)
    fake.config.merge({"chunk_delay_ms": 100})
    with httpx.Client() as client, client.stream("POST", url + STREAM, json=BODY, headers=headers) as gone:
        bodies.append(next(gone.iter_bytes()))  # one event, then the client hangs up
    fake.config.merge({"chunk_delay_ms": 0})
    return bodies


CALLS = 6  # in _scenario


def _run(gateway: RunningGateway, fake: FakeState, told: Told, before: int) -> tuple[list[Any], ...]:
    bodies = _scenario(gateway, fake)
    records = wait_for_records(gateway.url, before + CALLS)[:CALLS]  # newest first
    full = [_stable(record(gateway.url, item["id"])) for item in reversed(records)]
    calls = [(c.status, c.first_body is not None, c.exchange is not None) for c in told.calls[-CALLS:]]
    return bodies, full, calls


def test_direct_calls_leave_what_the_middleware_chain_leaves(
    gateway_factory: GatewayFactory, fake: FakeState
) -> None:
    fake.config.merge({"stream_chunks": 6})
    with gateway_factory(
        gateway_tokens=["client-token-7f3a"], **{k: v for k, v in RECORDING.items() if k != "gateway_tokens"}
    ) as gateway:
        front_door = gateway.app.front_door  # type: ignore[attr-defined]
        assert front_door.direct is not None  # the gateway's own middleware: served directly
        told = Told()
        gateway.gateway.observers.append(told)
        direct = _run(gateway, fake, told, 0)
        front_door.direct = None  # the same calls through the middleware chain
        chained = _run(gateway, fake, told, CALLS)
    bodies, records, calls = direct
    assert [r["status"] for r in records] == [200, 200, 401, 200, 200, 499]
    assert records[-2]["error"] and calls[-2][0] == 200  # the cut stream: started, then broken
    assert all(call[1] for call in calls)  # every call sent body bytes
    assert records[1]["chunk_count"] >= 2 and records[1]["finish_reason"] == "STOP"
    assert _comparable(bodies) == _comparable(chained[0])
    assert records == chained[1]
    assert calls == chained[2]


def _comparable(bodies: list[bytes]) -> list[bytes]:
    # The OpenAI stream's chunks carry an id and a time of their own per call.
    return [b if not b.startswith(b'data: {"id"') else b.count(b"data: ").to_bytes(2, "big") for b in bodies]
