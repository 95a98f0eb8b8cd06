"""The official google-genai SDK against the fake, on both API versions."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import types

from gemini_gateway.fake_upstream import FakeState
from gemini_gateway.fake_upstream.testing import RunningFake

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Current weather for a city",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
)


@pytest.fixture(scope="module")
def clients(server: RunningFake) -> dict[str, genai.Client]:
    # Building a client loads TLS settings (~0.1 s); one per API version is enough.
    return {
        version: genai.Client(api_key="k1", http_options={"base_url": server.url, "api_version": version})
        for version in ("v1beta", "v1")
    }


@pytest.fixture(params=["v1beta", "v1"])
def api_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(api_version: str, clients: dict[str, genai.Client], state: FakeState) -> genai.Client:
    return clients[api_version]


def test_generate_content_echoes_the_prompt(client: genai.Client, state: FakeState, api_version: str) -> None:
    response = client.models.generate_content(model="gemini-2.5-flash", contents="Tell me about otters")
    assert response.text is not None and "Tell me about otters" in response.text
    candidate = response.candidates[0]  # type: ignore[index]
    assert candidate.finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    assert usage.total_token_count == (
        usage.prompt_token_count + usage.candidates_token_count + (usage.thoughts_token_count or 0)
    )
    assert response.model_version == "gemini-2.5-flash" and response.response_id
    call = state.calls[-1]
    assert (call.key, call.method, call.model, call.stream) == (
        "k1",
        "generateContent",
        "gemini-2.5-flash",
        False,
    )
    assert call.version == api_version


def test_same_request_same_answer(client: genai.Client) -> None:
    first = client.models.generate_content(model="gemini-2.0-flash", contents="repeat after me")
    second = client.models.generate_content(model="gemini-2.0-flash", contents="repeat after me")
    assert first.text == second.text and first.response_id == second.response_id


def test_stream_arrives_in_chunks(client: genai.Client, state: FakeState) -> None:
    chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="stream a reply"))
    assert len(chunks) == state.config.stream_chunks
    assert "stream a reply" in "".join(c.text or "" for c in chunks)
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert chunks[-1].usage_metadata.candidates_token_count  # type: ignore[union-attr]
    assert state.calls[-1].stream


def test_count_tokens(client: genai.Client) -> None:
    result = client.models.count_tokens(model="gemini-2.5-flash", contents="x" * 40)
    assert result.total_tokens == 10


def test_embed_content(client: genai.Client, state: FakeState) -> None:
    result = client.models.embed_content(
        model="gemini-embedding-001",
        contents=["first text", "second text"],
        config=types.EmbedContentConfig(output_dimensionality=16),
    )
    assert result.embeddings is not None and len(result.embeddings) == 2
    values = [e.values or [] for e in result.embeddings]
    assert all(len(v) == 16 for v in values) and values[0] != values[1]
    assert abs(sum(x * x for x in values[0]) - 1) < 1e-4
    assert state.calls[-1].model == "gemini-embedding-001"


def test_models_list_and_get(client: genai.Client) -> None:
    names = [m.name for m in client.models.list(config={"page_size": 4})]
    assert "models/gemini-2.5-pro" in names and "models/imagen-4.0-generate-001" in names
    assert len(names) == len(set(names))
    model = client.models.get(model="gemini-2.5-flash")
    assert model.display_name == "Gemini 2.5 Flash" and model.input_token_limit == 1_048_576


def test_function_calling_round_trip(client: genai.Client) -> None:
    config = types.GenerateContentConfig(tools=[WEATHER])
    first = client.models.generate_content(
        model="gemini-3-pro-preview", contents="Weather in Paris?", config=config
    )
    calls = first.function_calls
    assert calls and calls[0].name == "get_weather" and calls[0].args == {"city": "example city"}
    assert calls[0].id is None
    model_turn = first.candidates[0].content  # type: ignore[index]
    assert model_turn is not None and model_turn.parts and model_turn.parts[0].thought_signature
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        model_turn,
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 21})],
        ),
    ]
    second = client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert second.text is not None and "get_weather" in second.text and '"temp_c":21' in second.text


def test_thinking_with_included_thoughts(client: genai.Client) -> None:
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(include_thoughts=True))
    response = client.models.generate_content(model="gemini-2.5-pro", contents="think first", config=config)
    parts = response.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert parts is not None and parts[0].thought is True and "think first" in (parts[0].text or "")
    assert parts[-1].thought_signature and not parts[-1].thought
    assert response.usage_metadata.thoughts_token_count  # type: ignore[union-attr]


def test_sdk_error_carries_google_status(client: genai.Client, state: FakeState) -> None:
    state.add_fault("k1", "429", count=1)
    with pytest.raises(genai.errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
