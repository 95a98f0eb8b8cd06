"""The official anthropic SDK against the gateway's Messages dialect, served by the fake upstream."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway

MODEL = "gemini-2.5-flash"
TOOL = {
    "name": "get_weather",
    "description": "Current weather",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "default": "Oslo"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def sdk(gateway: RunningGateway, prefix: str = "") -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="client-token", base_url=gateway.url + prefix, max_retries=0)


@pytest.mark.parametrize("prefix", ["", "/anthropic"])
def test_messages_non_stream(gateway: RunningGateway, fake: FakeState, prefix: str) -> None:
    message = sdk(gateway, prefix).messages.create(
        model=MODEL,
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Tell me about albatrosses"}],
    )
    assert message.type == "message" and message.role == "assistant"
    text = "".join(b.text for b in message.content if b.type == "text")
    assert "albatrosses" in text.lower()
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert fake.calls[-1].key in KEYS


def test_messages_stream_event_sequence(gateway: RunningGateway, fake: FakeState) -> None:
    fake.config.stream_chunks = 4
    client = sdk(gateway)
    kinds = []
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "Stream about gannets"}]
    ) as stream:
        for event in stream:
            kinds.append(event.type)
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds and "message_delta" in kinds
    assert "gannets" in "".join(b.text for b in final.content if b.type == "text").lower()


@pytest.mark.parametrize("stream", [False, True])
def test_tool_use_round_trip_with_thinking(gateway: RunningGateway, stream: bool) -> None:
    client = sdk(gateway)
    messages: list = [{"role": "user", "content": "Weather in Bergen?"}]
    kwargs = {
        "model": "gemini-3-pro-preview",
        "max_tokens": 2048,
        "tools": [TOOL],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    if stream:
        with client.messages.stream(messages=messages, **kwargs) as events:
            first = events.get_final_message()
    else:
        first = client.messages.create(messages=messages, **kwargs)
    assert first.stop_reason == "tool_use"
    kinds = [b.type for b in first.content]
    assert "thinking" in kinds and "tool_use" in kinds
    tool_use = next(b for b in first.content if b.type == "tool_use")
    assert tool_use.name == "get_weather" and "city" in tool_use.input
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "7 degrees"}],
        }
    )
    second = client.messages.create(messages=messages, **kwargs)
    assert "get_weather" in "".join(b.text for b in second.content if b.type == "text")


def test_count_tokens(gateway: RunningGateway) -> None:
    result = sdk(gateway).messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "count these words please"}]
    )
    assert result.input_tokens > 0


def test_errors_use_anthropics_envelope(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "robot", "content": "x"}])
    assert info.value.body["type"] == "error"  # type: ignore[index]
    raw = httpx.post(
        gateway.url + "/v1/messages", content=b"not json", headers={"content-type": "application/json"}
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    malformed_tools = httpx.post(
        gateway.url + "/v1/messages",
        json={
            "model": MODEL,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"nope": 1}],
        },
    )
    assert malformed_tools.status_code == 400 and malformed_tools.json()["type"] == "error"


def test_tool_choice_naming_a_server_tool_is_served(gateway: RunningGateway, fake: FakeState) -> None:
    """`tool_choice` forcing `web_search` (a server tool, beside a function) is accepted, not a 400."""
    message = sdk(gateway).messages.create(
        model=MODEL,
        max_tokens=128,
        messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        tools=[TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}],
        tool_choice={"type": "tool", "name": "web_search"},
    )
    assert message.stop_reason in ("end_turn", "tool_use") and message.content
    assert fake.calls[-1].method == "generateContent"
