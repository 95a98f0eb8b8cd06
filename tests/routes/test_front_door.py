"""The front door: which requests skip FastAPI's router, and that they lose nothing by it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.routing import Route

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send
from gemini_gateway.routes.front_door import HotRoutes
from tests.conftest import ADMIN_TOKEN, GatewayFactory, RunningGateway
from tests.recorder.conftest import wait_for_records


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
