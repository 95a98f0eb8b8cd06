"""The official openai SDK against the gateway's OpenAI dialect, served by the fake upstream."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import openai
import pytest

from gemini_gateway.fake_upstream import FakeState
from tests.admin.helpers import admin_client
from tests.conftest import KEYS, GatewayFactory, RunningGateway

MODEL = "gemini-2.5-flash"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def sdk(gateway: RunningGateway, prefix: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(api_key="client-token", base_url=gateway.url + prefix, max_retries=0)


@pytest.mark.parametrize("prefix", ["/v1", "/openai/v1", "/hf/v1"])
def test_chat_non_stream(gateway: RunningGateway, fake: FakeState, prefix: str) -> None:
    client = sdk(gateway, prefix)
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Tell me about narwhals"},
        ],
    )
    assert completion.object == "chat.completion"
    assert "narwhals" in (completion.choices[0].message.content or "").lower()
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage and completion.usage.total_tokens > 0
    assert fake.calls[-1].key in KEYS and fake.calls[-1].method == "generateContent"


def test_chat_stream_with_usage(gateway: RunningGateway, fake: FakeState) -> None:
    fake.config.stream_chunks = 4
    client = sdk(gateway)
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Stream about puffins"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "puffins" in text.lower()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
def test_multi_turn_tool_use_keeps_thought_signatures(gateway: RunningGateway, stream: bool) -> None:
    """gemini-3 rejects a history whose function call lost its thoughtSignature; this must pass."""
    client = sdk(gateway)
    messages: list[dict] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    kwargs = {"model": "gemini-3-pro-preview", "tools": [WEATHER_TOOL]}
    if stream:
        calls: dict[int, dict] = {}
        for chunk in client.chat.completions.create(messages=messages, stream=True, **kwargs):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = delta.id or entry["id"]
                entry["name"] = (delta.function.name if delta.function else None) or entry["name"]
                entry["arguments"] += (delta.function.arguments if delta.function else None) or ""
        tool_calls = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls.values()
        ]
    else:
        first = client.chat.completions.create(messages=messages, **kwargs)
        assert first.choices[0].finish_reason == "tool_calls"
        tool_calls = [tc.model_dump() for tc in first.choices[0].message.tool_calls or []]
    assert tool_calls and tool_calls[0]["function"]["name"] == "get_weather"
    assert "city" in json.loads(tool_calls[0]["function"]["arguments"])
    messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
    messages.append({"role": "tool", "tool_call_id": tool_calls[0]["id"], "content": '{"temp_c": 4}'})
    second = client.chat.completions.create(messages=messages, **kwargs)
    assert "get_weather" in (second.choices[0].message.content or "")


def test_json_schema_response_format(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "A person"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    data = json.loads(completion.choices[0].message.content or "")
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


def test_image_data_url_reaches_the_upstream(gateway: RunningGateway) -> None:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
    completion = sdk(gateway).chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                ],
            }
        ],
    )
    assert "image/png" in (completion.choices[0].message.content or "")


def test_embeddings_float_and_base64(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    result = client.embeddings.create(
        model="gemini-embedding-001", input=["alpha", "beta"]
    )  # SDK asks base64
    assert len(result.data) == 2 and len(result.data[0].embedding) > 10
    plain = client.embeddings.create(model="gemini-embedding-001", input="alpha", encoding_format="float")
    assert plain.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)


def test_models_list_in_openai_shape(gateway: RunningGateway) -> None:
    ids = [m.id for m in sdk(gateway).models.list()]
    assert "gemini-2.5-flash" in ids and not any(i.startswith("models/") for i in ids)
    assert sdk(gateway).models.retrieve("gemini-2.5-pro").id == "gemini-2.5-pro"


def test_errors_use_openais_envelope(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "hi"}])
    assert info.value.body and "role" in str(info.value.body)
    raw = httpx.post(
        gateway.url + "/v1/chat/completions", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


def test_image_url_to_loopback_is_refused(gateway: RunningGateway, fake: FakeState) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk(gateway).chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:1/x.png"}}],
                }
            ],
        )
    assert "private" in str(info.value.body) or "loopback" in str(info.value.body)
    assert not fake.calls


def test_images_generation_b64(gateway: RunningGateway, fake: FakeState) -> None:
    result = sdk(gateway).images.generate(model="imagen-4.0-generate-001", prompt="a red fox", n=2)
    assert result.data and len(result.data) == 2
    png = base64.b64decode(result.data[0].b64_json or "")
    assert png.startswith(b"\x89PNG")
    assert fake.calls[-1].method == "predict"


def test_speech_wav_and_pcm(gateway: RunningGateway, fake: FakeState) -> None:
    client = sdk(gateway)
    wav = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there", response_format="wav")
    data = wav.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 44
    pcm = client.audio.speech.create(
        model="tts-1", voice="nova", input="Hello there", response_format="pcm"
    ).read()
    assert len(pcm) == len(data) - 44
    assert fake.calls[-1].model == "gemini-2.5-flash-preview-tts"
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi", response_format="mp3")


def test_responses_non_stream_and_stream(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    response = client.responses.create(
        model=MODEL, input="Tell me about cormorants", instructions="Be brief."
    )
    assert response.status == "completed" and "cormorants" in response.output_text.lower()
    kinds = [
        event.type for event in client.responses.create(model=MODEL, input="Stream about terns", stream=True)
    ]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds


def test_responses_function_tools(gateway: RunningGateway) -> None:
    client = sdk(gateway)
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}
    first = client.responses.create(model="gemini-3-pro-preview", input="Weather in Rome?", tools=[tool])
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather"
    follow_up = [
        {"role": "user", "content": "Weather in Rome?"},
        calls[0].model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"temp_c": 25}'},
    ]
    second = client.responses.create(model="gemini-3-pro-preview", input=follow_up, tools=[tool])
    assert "get_weather" in second.output_text


def test_a_50_mb_image_is_refused_clearly(gateway: RunningGateway, fake: FakeState) -> None:
    fifty_mb_as_base64 = "A" * (50 * 1024 * 1024 * 4 // 3)
    url = "data:image/png;base64," + fifty_mb_as_base64
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
    }
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert not fake.calls


def _reasoning_tokens(completion: openai.types.chat.ChatCompletion) -> int:
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    return usage.completion_tokens_details.reasoning_tokens or 0


def test_model_suffixes_listed_and_honoured(gateway: RunningGateway, fake: FakeState) -> None:
    client = sdk(gateway)
    ids = [m.id for m in client.models.list()]
    assert {"gemini-2.5-flash-search", "gemini-2.5-flash-nothinking", "gemini-2.5-pro-search"} <= set(ids)
    assert "gemini-2.5-pro-nothinking" in ids and "gemini-embedding-001-search" not in ids
    # Stacked only where each suffix is listed on its own: 2.0 Flash does not think.
    assert {f"{MODEL}-search-nothinking", "gemini-2.5-pro-search-nothinking"} <= set(ids)
    assert "gemini-2.0-flash-search" in ids and "gemini-2.0-flash-search-nothinking" not in ids
    stacked = {i.removesuffix("-search-nothinking") for i in ids if i.endswith("-search-nothinking")}
    stoppable = {i.removesuffix("-nothinking") for i in ids if i.endswith("-nothinking")} - {
        f"{model}-search" for model in stacked
    }
    searchable = {i.removesuffix("-search") for i in ids if i.endswith("-search")}
    assert stacked == stoppable & searchable
    for model in sorted(stacked):  # every one listed is served, by its model
        answer = client.chat.completions.create(
            model=f"{model}-search-nothinking", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content and fake.calls[-1].model == model
        assert client.models.retrieve(f"{model}-search-nothinking").id == f"{model}-search-nothinking"
    # Google refuses a zero thinking budget on Pro: the suffix asks it for its least instead.
    pro = client.chat.completions.create(
        model="gemini-2.5-pro-nothinking", messages=[{"role": "user", "content": "hi"}]
    )
    assert pro.choices[0].message.content and fake.calls[-1].model == "gemini-2.5-pro"
    assert client.models.retrieve("gemini-2.5-flash-search").id == "gemini-2.5-flash-search"
    messages = [{"role": "user", "content": "Tell me about narwhals"}]
    thinking = client.chat.completions.create(model=MODEL, messages=messages)
    quiet = client.chat.completions.create(model=f"{MODEL}-search-nothinking", messages=messages)
    assert fake.calls[-1].model == MODEL and quiet.model == f"{MODEL}-search-nothinking"
    assert _reasoning_tokens(thinking) > 0 and _reasoning_tokens(quiet) == 0


def test_model_suffixes_off_pass_names_through(gateway_factory: GatewayFactory, fake: FakeState) -> None:
    with gateway_factory(model_suffixes=False) as running:
        client = sdk(running)
        ids = [m.id for m in client.models.list()]
        assert MODEL in ids and not [i for i in ids if i.endswith(("-search", "-nothinking"))]
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve(f"{MODEL}-search")
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model=f"{MODEL}-search", messages=[{"role": "user", "content": "hi"}]
            )
        assert fake.calls[-1].model == f"{MODEL}-search"  # sent upstream as the client named it


def test_model_suffixes_switch_at_run_time(gateway: RunningGateway, fake: FakeState) -> None:
    client, hi = sdk(gateway), [{"role": "user", "content": "hi"}]
    assert f"{MODEL}-search" in [m.id for m in client.models.list()]
    admin = admin_client(gateway.url)
    response = admin.put("/api/settings", json={"values": {"model_suffixes": False}})
    assert response.json()["changed"] == [
        {"name": "model_suffixes", "applied_now": True, "restart_needed": False}
    ]
    assert f"{MODEL}-search" not in [m.id for m in client.models.list()]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=f"{MODEL}-search", messages=hi)
    admin.put("/api/settings", json={"values": {"model_suffixes": True}}).raise_for_status()
    admin.close()
    answer = client.chat.completions.create(model=f"{MODEL}-search", messages=hi)
    assert answer.choices[0].message.content and fake.calls[-1].model == MODEL


@pytest.mark.parametrize("stream", [False, True])
def test_n_choices_come_from_candidate_count(gateway: RunningGateway, stream: bool) -> None:
    client = sdk(gateway)
    messages: Any = [{"role": "user", "content": "Name a seabird"}]
    texts: dict[int, str] = {}
    if stream:
        for chunk in client.chat.completions.create(model=MODEL, messages=messages, n=3, stream=True):
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    else:
        answer = client.chat.completions.create(model=MODEL, messages=messages, n=3)
        texts = {choice.index: choice.message.content or "" for choice in answer.choices}
    assert sorted(texts) == [0, 1, 2]
    assert len(set(texts.values())) == 3  # each candidate its own answer
    assert all("seabird" in text for text in texts.values())
