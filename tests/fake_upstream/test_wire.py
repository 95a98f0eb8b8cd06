"""Raw HTTP: framing, routes, auth and request parsing exactly as they appear on the wire."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.testing import RunningFake
from tests.fake_upstream.conftest import GENERATE, STREAM, user

API_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}


def error_of(response: httpx.Response) -> dict[str, object]:
    error = response.json()["error"]
    assert error["code"] == response.status_code
    assert response.headers["content-type"].startswith("application/json")
    return error  # type: ignore[no-any-return]


def test_sse_events_use_crlf_framing(http: httpx.Client, state: FakeState) -> None:
    state.config.merge({"stream_chunks": 3})
    response = http.post(STREAM, params={"alt": "sse"}, json=user("frame these events"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["content-disposition"] == "attachment"
    raw = response.content
    assert raw.endswith(b"\r\n\r\n") and b"\n\n" not in raw.replace(b"\r\n\r\n", b"")
    events = [orjson.loads(e.removeprefix(b"data: ")) for e in raw.split(b"\r\n\r\n") if e]
    assert len(events) == 3
    assert all(e["responseId"] == events[0]["responseId"] for e in events)
    assert "finishReason" not in events[0]["candidates"][0]
    last = events[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"]["candidatesTokenCount"] > 0
    text = "".join(p["text"] for e in events for p in e["candidates"][0]["content"]["parts"])
    assert "frame these events" in text


def test_stream_without_alt_is_one_json_array(http: httpx.Client, state: FakeState) -> None:
    state.config.merge({"stream_chunks": 2})
    with http.stream("POST", STREAM, json=user("array please")) as response:
        pieces = list(response.iter_raw())
    raw = b"".join(pieces)
    assert response.headers["content-type"].startswith("application/json")
    assert raw.startswith(b"[{") and raw.endswith(b"}]")
    assert raw.count(b"},\r\n{") == 1
    events = orjson.loads(raw)
    assert len(events) == 2 and events[-1]["candidates"][0]["finishReason"] == "STOP"


def test_per_call_chunk_override(http: httpx.Client) -> None:
    response = http.post(
        STREAM, params={"alt": "sse"}, json=user("twenty chunks"), headers={"x-fake-stream-chunks": "20"}
    )
    assert response.content.count(b"data: ") == 20


def test_stream_error_before_start_keeps_the_array_shape(http: httpx.Client) -> None:
    response = http.post(STREAM, json={"contents": []})
    assert response.status_code == 400
    assert response.json()[0]["error"]["status"] == "INVALID_ARGUMENT"
    sse = http.post(STREAM, params={"alt": "sse"}, json={"contents": []})
    assert sse.json()["error"]["code"] == 400


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_unknown_model_is_google_404(http: httpx.Client, version: str) -> None:
    response = http.post(f"/{version}/models/gemini-9-ultra:generateContent", json=user("hi"))
    error = error_of(response)
    assert response.status_code == 404 and error["status"] == "NOT_FOUND"
    assert error["message"].startswith(  # type: ignore[union-attr]
        f"models/gemini-9-ultra is not found for API version {version}, or is not supported for generateContent"
    )


def test_generate_on_embedding_model_is_404(http: httpx.Client) -> None:
    response = http.post("/v1beta/models/gemini-embedding-001:generateContent", json=user("hi"))
    assert response.status_code == 404 and "not supported for generateContent" in response.text


@pytest.mark.parametrize(
    "path", ["/v2/models", "/v1beta/tunedModels/x", "/v1beta/models/gemini-2.5-flash:dance"]
)
def test_unknown_route_is_google_404(http: httpx.Client, path: str) -> None:
    response = http.post(path, json={})
    assert response.status_code == 404 and error_of(response)["status"] == "NOT_FOUND"


def test_models_pagination(http: httpx.Client) -> None:
    seen: list[str] = []
    token = None
    while True:
        page = http.get(
            "/v1beta/models", params={"pageSize": 5, **({"pageToken": token} if token else {})}
        ).json()
        seen += [m["name"] for m in page["models"]]
        token = page.get("nextPageToken")
        if not token:
            break
    required = [
        "gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash",
        "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-embedding-001", "text-embedding-004",
        "imagen-4.0-generate-001", "gemini-2.5-flash-preview-tts", "gemini-2.5-flash-image",
    ]  # fmt: skip
    assert {f"models/{m}" for m in required} <= set(seen)
    assert len(seen) == len(set(seen))
    assert http.get("/v1beta/models", params={"pageToken": "garbage!"}).status_code == 400


def test_get_model(http: httpx.Client) -> None:
    model = http.get("/v1/models/gemini-2.5-pro").json()
    assert model["name"] == "models/gemini-2.5-pro" and model["baseModelId"] == "gemini-2.5-pro"
    assert model["thinking"] is True and "generateContent" in model["supportedGenerationMethods"]
    assert {"version", "displayName", "inputTokenLimit", "outputTokenLimit", "temperature"} <= model.keys()
    assert http.get("/v1/models/nope").status_code == 404


def test_missing_key_is_403(server: RunningFake, state: FakeState) -> None:
    response = httpx.post(server.url + GENERATE, json=user("hi"))
    error = error_of(response)
    assert response.status_code == 403 and error["status"] == "PERMISSION_DENIED"
    assert str(error["message"]).startswith("Method doesn't allow unregistered callers")
    assert state.calls[-1].key is None


def test_invalid_key_is_400_api_key_invalid(server: RunningFake, state: FakeState) -> None:
    state.valid_keys = {"good"}
    response = httpx.post(server.url + GENERATE, json=user("hi"), headers={"x-goog-api-key": "bad"})
    error = error_of(response)
    assert response.status_code == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "API key not valid. Please pass a valid API key."
    assert error["details"][0] == API_KEY_INVALID  # type: ignore[index]
    ok = httpx.post(server.url + GENERATE, params={"key": "good"}, json=user("hi"))
    assert ok.status_code == 200
    assert [c.key for c in state.calls] == ["bad", "good"]


def test_bad_json_and_non_object_body(http: httpx.Client) -> None:
    broken = http.post(GENERATE, content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert str(error_of(broken)["message"]).startswith("Invalid JSON payload received.")
    listed = http.post(GENERATE, json=[1, 2])
    assert listed.status_code == 400 and "Invalid JSON payload received" in listed.text


def test_unknown_fields_are_rejected_where_they_are(http: httpx.Client) -> None:
    top = http.post(GENERATE, json={**user("hi"), "max_tokens": 5})
    assert (
        error_of(top)["message"]
        == 'Invalid JSON payload received. Unknown name "max_tokens": Cannot find field.'
    )
    nested = http.post(GENERATE, json={**user("hi"), "generationConfig": {"maxTokens": 5}})
    assert "Unknown name \"maxTokens\" at 'generation_config'" in str(error_of(nested)["message"])
    schema = {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "additionalProperties": False}
    tools = [{"functionDeclarations": [{"name": "f", "description": "d", "parameters": schema}]}]
    deep = http.post(GENERATE, json={**user("hi"), "tools": tools})
    assert "at 'tools[0].function_declarations[0].parameters'" in str(error_of(deep)["message"])


def test_snake_case_is_accepted_and_answers_are_camel_case(http: httpx.Client) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "snake case works"}]}],
        "system_instruction": {"parts": [{"text": "Be terse"}]},
        "generation_config": {
            "max_output_tokens": 500,
            "thinking_config": {"include_thoughts": True, "thinking_budget": 128},
        },
    }
    answer = http.post(GENERATE, json=body).json()
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True
    assert "snake case works" in parts[-1]["text"] and "Be terse" in parts[-1]["text"]
    assert "thoughtSignature" in parts[-1] and "usageMetadata" in answer


def test_empty_contents_are_rejected(http: httpx.Client) -> None:
    assert "contents is not specified" in http.post(GENERATE, json={}).text
    empty_parts = http.post(GENERATE, json={"contents": [{"role": "user", "parts": []}]})
    assert empty_parts.status_code == 400 and "must not be empty" in empty_parts.text


def test_cors_preflight_and_headers(http: httpx.Client) -> None:
    preflight = http.options(GENERATE, headers={"access-control-request-headers": "x-goog-api-key"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-headers"] == "x-goog-api-key"
    assert http.post(GENERATE, json=user("hi")).headers["access-control-allow-origin"] == "*"


def test_stream_puts_thoughts_first_and_function_calls_whole(http: httpx.Client) -> None:
    tools = [{"functionDeclarations": [{"name": "get_time", "description": "now"}]}]
    body = {**user("what time is it"), "tools": tools}
    body["generationConfig"] = {"thinkingConfig": {"includeThoughts": True}}
    raw = http.post(STREAM, params={"alt": "sse"}, json=body).content
    events = [orjson.loads(e.removeprefix(b"data: ")) for e in raw.split(b"\r\n\r\n") if e]
    parts = [e["candidates"][0]["content"]["parts"] for e in events]
    assert parts[0] == [{"text": parts[0][0]["text"], "thought": True}]
    (call,) = parts[-1]
    assert call["functionCall"] == {"name": "get_time", "args": {}} and call["thoughtSignature"]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP" and len(events) == 2
