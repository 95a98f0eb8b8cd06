"""Pure pieces of the fake, without a server."""

from __future__ import annotations

import pytest

import gemini_gateway.fake_upstream as package
from gemini_gateway.fake_upstream import CallRecord, FakeConfig, FakeState
from gemini_gateway.fake_upstream.errors import FakeApiError
from gemini_gateway.fake_upstream.proto_json import GENERATE_CONTENT_REQUEST, parse_body
from gemini_gateway.fake_upstream.responses import split_text
from gemini_gateway.fake_upstream.schema_values import example_value


def test_public_surface() -> None:
    assert {"create_fake_app", "serve_fake", "FakeState", "FakeConfig", "Fault", "CallRecord"} <= set(
        package.__all__
    )
    assert all(hasattr(package, name) for name in package.__all__)


def test_user_data_keeps_its_spelling() -> None:
    body = (
        b'{"contents":[{"role":"model","parts":[{"function_call":{"name":"f","args":{"city_name":"x"}},'
        b'"thought_signature":"c2ln"}]}],"tools":[{"function_declarations":[{"name":"f","parameters":'
        b'{"type":"OBJECT","properties":{"snake_key":{"type":"STRING","min_length":1}}}}]}],'
        b'"generation_config":{"_responseJsonSchema":{"type":"object","properties":{"a_b":{}}}}}'
    )
    request = parse_body(body, GENERATE_CONTENT_REQUEST)
    part = request["contents"][0]["parts"][0]
    assert part == {"functionCall": {"name": "f", "args": {"city_name": "x"}}, "thoughtSignature": "c2ln"}
    schema = request["tools"][0]["functionDeclarations"][0]["parameters"]
    assert schema["properties"] == {"snake_key": {"type": "STRING", "minLength": 1}}
    assert request["generationConfig"]["responseJsonSchema"]["properties"] == {"a_b": {}}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"contents":[{"parts":[{"type":"text","text":"hi"}]}]}', "at 'contents[0].parts[0]'"),
        (b'{"contents":"hi"}', "Invalid value at 'contents'"),
        (b'{"contents":[{"parts":[{"text":"hi"}]}],"tool_config":{"mode":"ANY"}}', "at 'tool_config'"),
    ],
)
def test_proto_json_errors_name_the_place(body: bytes, where: str) -> None:
    with pytest.raises(FakeApiError) as info:
        parse_body(body, GENERATE_CONTENT_REQUEST)
    assert info.value.code == 400 and where in info.value.message


@pytest.mark.parametrize(("text", "pieces"), [("abcdefghij", 3), ("ab", 20), ("x" * 101, 20), ("", 4)])
def test_split_text(text: str, pieces: int) -> None:
    parts = split_text(text, pieces)
    assert "".join(parts) == text and len(parts) <= max(1, pieces)
    assert all(parts) or text == ""


def test_example_values_respect_constraints() -> None:
    assert example_value({"type": "integer", "minimum": 2.5}) == 3
    assert example_value({"type": "number", "maximum": 0}) == 0
    assert example_value({"type": "string", "minLength": 20, "maxLength": 22}) == "example valuexxxxxxx"
    assert example_value({"type": "array", "items": {"type": "string"}, "maxItems": 0}) == []
    assert example_value({"anyOf": [{"type": "null"}, {"type": "boolean"}]}) is True
    assert example_value({"type": "STRING", "format": "date-time"}) == "2025-01-01T00:00:00Z"
    ordered = {"type": "OBJECT", "properties": {"b": {}, "a": {}}, "propertyOrdering": ["a", "b"]}
    assert list(example_value(ordered)) == ["a", "b"]
    looped = {
        "$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}},
        "$ref": "#/$defs/n",
    }
    assert isinstance(example_value(looped), dict)  # recursion is cut off, not endless


def test_config_merge_is_all_or_nothing() -> None:
    config = FakeConfig()
    with pytest.raises(ValueError):
        config.merge({"stream_chunks": 7, "latency_ms": True})
    assert config.stream_chunks == 4
    config.merge({"stream_chunks": 7, "latency_ms": 5})
    assert (config.stream_chunks, config.latency_ms) == (7, 5.0)


def test_faults_match_in_order_and_expire() -> None:
    state = FakeState()
    state.add_fault("k1", "503", count=1)
    state.add_fault(None, "500", model="models/gemini-2.5-pro")
    assert state.take_fault("k2", "gemini-2.5-flash") is None
    first = state.take_fault("k1", "gemini-2.5-pro")
    assert first is not None and first.kind == "503"
    for _ in range(3):
        fault = state.take_fault("k1", "gemini-2.5-pro")
        assert fault is not None and fault.kind == "500"
    assert [f.kind for f in state.faults] == ["500"]


def test_call_log_is_bounded() -> None:
    state = FakeState()
    state.config.merge({"max_calls": 2})
    for index in range(3):
        state.record(CallRecord(f"k{index}", "generateContent", "m", False, "v1beta"))
    assert [c.key for c in state.calls] == ["k1", "k2"]
