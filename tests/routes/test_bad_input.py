"""Bad input at the model routes: a 4xx in the caller's own envelope, never a 500, and recorded.

Raw HTTP, not the SDKs: the SDKs type-check their arguments, and these bodies are what a client
that does not (or an attacker) sends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.json_depth import MAX_JSON_DEPTH
from tests.conftest import GatewayFactory, RunningGateway
from tests.recorder.conftest import wait_for_records

MODEL = "gemini-2.5-flash"
HUGE = 2**70  # orjson reads it as a float; an integer field then makes it an int beyond 64 bits
USER = [{"role": "user", "content": "hi"}]
CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
GEMINI = f"/v1beta/models/{MODEL}:generateContent"


@pytest.fixture
def recording_gateway(gateway_factory: GatewayFactory, fake: FakeState) -> Iterator[RunningGateway]:
    with gateway_factory(recording_batch_ms=10) as running:
        yield running


def _post(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    # orjson cannot write 2**70; the stdlib can, and is what a careless client would use.
    return httpx.post(url + path, content=json.dumps(body), headers={"content-type": "application/json"})


def assert_dialect_error(path: str, response: httpx.Response, status: int = 400) -> str:
    """The status and the envelope of the route's own dialect; returns the error message."""
    assert response.status_code == status, response.text
    body = response.json()
    if path.startswith("/v1beta"):
        assert body["error"]["code"] == status and body["error"]["status"] == "INVALID_ARGUMENT"
        return str(body["error"]["message"])
    if path == MESSAGES:
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    assert body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


BAD_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("chat max_tokens huge", CHAT, {"model": MODEL, "messages": USER, "max_tokens": HUGE}, "max_tokens"),
    (
        "chat max_completion_tokens huge",
        CHAT,
        {"model": MODEL, "messages": USER, "max_completion_tokens": HUGE},
        "max_completion_tokens",
    ),
    ("chat seed huge", CHAT, {"model": MODEL, "messages": USER, "seed": HUGE}, "seed"),
    (
        "responses max_output_tokens huge",
        RESPONSES,
        {"model": MODEL, "input": "hi", "max_output_tokens": HUGE},
        "max_output_tokens",
    ),
    (
        "responses tool type object",
        RESPONSES,
        {"model": MODEL, "input": "hi", "tools": [{"type": {}}]},
        "type",
    ),
    ("responses tool type list", RESPONSES, {"model": MODEL, "input": "hi", "tools": [{"type": []}]}, "type"),
    (
        "messages max_tokens huge",
        MESSAGES,
        {"model": MODEL, "messages": USER, "max_tokens": HUGE},
        "max_tokens",
    ),
    (
        "messages block type list",
        MESSAGES,
        {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": []}]}]},
        "type",
    ),
    (
        "messages block type object",
        MESSAGES,
        {"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": {}}]}]},
        "type",
    ),
    (
        "gemini functionDeclarations a number",
        GEMINI,
        {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": 1.0}]},
        "function_declarations",
    ),
    (
        "gemini functionDeclarations true",
        GEMINI,
        {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": True}]},
        "function_declarations",
    ),
    (
        "gemini tools an object",
        GEMINI,
        {"contents": [{"parts": [{"text": "hi"}]}], "tools": {"functionDeclarations": []}},
        "tools",
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "named"), [case[1:] for case in BAD_BODIES], ids=[case[0] for case in BAD_BODIES]
)
def test_bad_input_is_a_400_in_the_dialects_envelope_and_is_recorded(
    recording_gateway: RunningGateway, path: str, body: dict[str, Any], named: str
) -> None:
    message = assert_dialect_error(path, _post(recording_gateway.url, path, body))
    assert named in message
    (record,) = wait_for_records(recording_gateway.url, 1)
    assert record["status"] == 400 and record["path"] == path


# --- JSON nested deeper than the door allows ------------------------------------------------------


def _deep_body(path: str, depth: int) -> dict[str, Any]:
    """A plausible body of the dialect whose JSON nests exactly `depth` levels (the top is 1)."""
    if path == GEMINI:
        # body(1) > generationConfig(2) > responseSchema(3) > items ... > leaf
        schema: dict[str, Any] = {"type": "STRING"}
        for _ in range(depth - 3):
            schema = {"type": "ARRAY", "items": schema}
        return {
            "contents": [{"parts": [{"text": "hi"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": schema},
        }
    leaf = {"type": "string"}
    for _ in range(depth - 4):
        leaf = {"type": "array", "items": leaf}
    if path == CHAT:  # body(1) > response_format(2) > json_schema(3) > schema(4)
        return {
            "model": MODEL,
            "messages": USER,
            "response_format": {"type": "json_schema", "json_schema": {"name": "deep", "schema": leaf}},
        }
    if path == RESPONSES:  # body(1) > text(2) > format(3) > schema(4)
        return {
            "model": MODEL,
            "input": "hi",
            "text": {"format": {"type": "json_schema", "name": "deep", "schema": leaf}},
        }
    # body(1) > tools(2) > tool(3) > input_schema(4)
    return {
        "model": MODEL,
        "max_tokens": 50,
        "messages": USER,
        "tools": [{"name": "t", "input_schema": leaf}],
    }


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("path", [CHAT, RESPONSES, MESSAGES, GEMINI])
def test_json_deeper_than_the_limit_is_refused_at_the_door_and_the_limit_itself_is_served(
    recording_gateway: RunningGateway, path: str
) -> None:
    at_limit, beyond = _deep_body(path, MAX_JSON_DEPTH), _deep_body(path, MAX_JSON_DEPTH + 1)
    assert (_depth(at_limit), _depth(beyond)) == (MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1)
    served = httpx.post(recording_gateway.url + path, content=orjson.dumps(at_limit), timeout=30)
    assert served.status_code == 200, served.text
    refused = httpx.post(recording_gateway.url + path, content=orjson.dumps(beyond))
    message = assert_dialect_error(path, refused)
    assert f"{MAX_JSON_DEPTH} levels" in message
    records = wait_for_records(recording_gateway.url, 2)
    assert sorted(r["status"] for r in records) == [200, 400]


def test_json_far_deeper_than_the_parser_allows_is_a_400(recording_gateway: RunningGateway) -> None:
    body = b'{"contents":' + b"[" * 3000 + b"]" * 3000 + b"}"
    assert_dialect_error(GEMINI, httpx.post(recording_gateway.url + GEMINI, content=body))
    body = b'{"model":"m","messages":' + b"[" * 3000 + b"]" * 3000 + b"}"
    assert_dialect_error(CHAT, httpx.post(recording_gateway.url + CHAT, content=body))
    assert len(wait_for_records(recording_gateway.url, 2)) == 2


def test_settings_nested_past_the_stores_json_encoder_do_not_stop_recording(
    recording_gateway: RunningGateway,
) -> None:
    """Refused at the door, but recorded as sent: the settings the recorder keeps in a JSON column
    must not hold what the store's encoder cannot write (it stops at 254 levels)."""
    nested = b"[" * 300 + b"]" * 300
    gemini = b'{"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"responseSchema":' + nested + b"}}"
    chat = b'{"model":"m","messages":[],"response_format":' + nested + b"}"
    assert_dialect_error(GEMINI, httpx.post(recording_gateway.url + GEMINI, content=gemini))
    assert_dialect_error(CHAT, httpx.post(recording_gateway.url + CHAT, content=chat))
    served = httpx.post(recording_gateway.url + GEMINI, json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert served.status_code == 200
    records = wait_for_records(recording_gateway.url, 3)
    assert sorted(r["status"] for r in records) == [200, 400, 400]
