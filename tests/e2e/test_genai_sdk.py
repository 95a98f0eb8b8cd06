"""The official google-genai SDK, pointed at the gateway, served by the fake upstream."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import types

from gemini_gateway.fake_upstream import FakeState
from tests.conftest import KEYS, RunningGateway

MODEL = "gemini-2.5-flash"


def client(url: str, version: str) -> genai.Client:
    return genai.Client(api_key="any-client-token", http_options={"base_url": url, "api_version": version})


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_content(gateway: RunningGateway, fake: FakeState, version: str) -> None:
    sdk = client(gateway.url, version)
    response = sdk.models.generate_content(model=MODEL, contents="Tell me about pelicans and lighthouses")
    assert response.text and "pelicans" in response.text.lower()
    assert response.usage_metadata is not None and response.usage_metadata.total_token_count
    assert fake.calls[-1].key in KEYS  # the pool's key, never the client's token
    assert fake.calls[-1].version == version


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_generate_content_stream(gateway: RunningGateway, fake: FakeState, version: str) -> None:
    sdk = client(gateway.url, version)
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="Stream about otters please"))
    assert len(chunks) >= 2
    text = "".join(c.text or "" for c in chunks)
    assert "otters" in text.lower()
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert fake.calls[-1].stream


def test_thoughts_with_snake_case_config(gateway: RunningGateway) -> None:
    sdk = client(gateway.url, "v1beta")
    response = sdk.models.generate_content(
        model=MODEL,
        contents="Think about walruses",
        config=types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True)),
    )
    parts = response.candidates[0].content.parts  # type: ignore[index,union-attr]
    assert parts and parts[0].thought is True
    assert response.usage_metadata is not None and response.usage_metadata.thoughts_token_count


def test_count_tokens(gateway: RunningGateway) -> None:
    sdk = client(gateway.url, "v1beta")
    result = sdk.models.count_tokens(model=MODEL, contents="one two three four five six")
    assert result.total_tokens and result.total_tokens > 0


def test_embed_content(gateway: RunningGateway, fake: FakeState) -> None:
    sdk = client(gateway.url, "v1beta")
    result = sdk.models.embed_content(model="gemini-embedding-001", contents=["first text", "second text"])
    assert result.embeddings and len(result.embeddings) == 2
    assert result.embeddings[0].values and result.embeddings[0].values != result.embeddings[1].values
    assert fake.calls[-1].method in ("batchEmbedContents", "embedContent")


def test_models_list_and_get(gateway: RunningGateway) -> None:
    sdk = client(gateway.url, "v1beta")
    names = [m.name for m in sdk.models.list()]
    assert "models/gemini-2.5-flash" in names and len(names) > 5
    model = sdk.models.get(model="gemini-2.5-pro")
    assert model.name == "models/gemini-2.5-pro"


def test_function_calling_round_trip(gateway: RunningGateway) -> None:
    sdk = client(gateway.url, "v1beta")
    tool = types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Current weather",
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"city": types.Schema(type=types.Type.STRING)},
                    required=["city"],
                ),
            )
        ]
    )
    config = types.GenerateContentConfig(
        tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    first = sdk.models.generate_content(
        model="gemini-3-pro-preview", contents="Weather in Paris?", config=config
    )
    assert first.function_calls and first.function_calls[0].name == "get_weather"
    model_turn = first.candidates[0].content  # type: ignore[index]
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        model_turn,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 21})],
        ),
    ]
    second = sdk.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert second.text and "get_weather" in second.text


def test_upstream_errors_reach_the_sdk_in_googles_shape(gateway: RunningGateway) -> None:
    sdk = client(gateway.url, "v1beta")
    with pytest.raises(genai.errors.ClientError) as info:
        sdk.models.generate_content(model="no-such-model-x", contents="hi")
    assert info.value.code == 404
    assert info.value.status == "NOT_FOUND"
