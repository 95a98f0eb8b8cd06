"""OpenAI chat completions: request -> canonical, canonical answer -> chat.completion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from gemini_gateway.dialects.common import SKIP_SIGNATURE, ParamError, decode_call_id
from gemini_gateway.dialects.media import RemoteImage, substitute_remote_images
from gemini_gateway.dialects.openai_chat import ChatCall, parse_chat_request, render_chat_response
from gemini_gateway.errors import RequestError

SIG = "CvQBAa+/Zm9vYmFyIQ=="  # canonical base64 with + / and padding
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}

Validate = Callable[[str, Any], None]  # the `openai_schema` fixture


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], **fields}


def test_minimal_request_is_translated_without_invented_defaults() -> None:
    call = parse_chat_request(chat())
    assert call.model == "gemini-2.5-flash"
    assert call.request == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert (call.stream, call.include_usage, call.n, call.remote_images) == (False, False, 1, [])


def test_full_conversation_golden() -> None:
    body = chat(
        model="models/gemini-2.5-pro",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "25C"}]},
            {"role": "user", "content": "Thanks"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
        temperature=0.2,
        top_p=0.9,
        max_completion_tokens=256,
        stop=["END"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0,
        parallel_tool_calls=True,
        user="someone",
        store=False,
    )
    call = parse_chat_request(body)
    assert call.model == "gemini-2.5-pro"
    assert call.request == {
        "systemInstruction": {"parts": [{"text": "Be terse."}, {"text": "Use tools."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": SKIP_SIGNATURE,
                    },
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Rome"}},
                        "thoughtSignature": SKIP_SIGNATURE,
                    },
                ],
            },
            {
                # Both results and the follow-up text share one user turn, as Gemini requires.
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"output": "25C"}}},
                    {"text": "Thanks"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Current weather",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING"}},
                            "required": ["city"],
                        },
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "presencePenalty": 0.5,
            "maxOutputTokens": 256,
            "stopSequences": ["END"],
            "seed": 7,
        },
    }


def test_content_parts() -> None:
    body = chat(
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "low"},
                    },
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
                    {
                        "type": "file",
                        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
                    },
                    {"type": "file", "file": {"file_data": "JVBERi0=", "filename": "b.pdf"}},
                    {"type": "file", "file": {"file_id": "files/abc123", "filename": "c.pdf"}},
                    {"type": "image_url", "image_url": {"url": "https://www.youtube.com/watch?v=x"}},
                ],
            }
        ]
    )
    call = parse_chat_request(body)
    assert call.request["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
        {"fileData": {"fileUri": "https://example.com/cat.jpg"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "SUQz"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {
            "fileData": {
                "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123",
                "mimeType": "application/pdf",
            }
        },
        {"fileData": {"fileUri": "https://www.youtube.com/watch?v=x"}},
    ]
    # Only the ordinary web image needs the handler to fetch it; YouTube and Files URIs don't.
    assert call.remote_images == [RemoteImage("https://example.com/cat.jpg", 0, 1)]


def test_remote_image_substitution_is_pure() -> None:
    body = chat(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://h/a.png"}}]},
        ]
    )
    call = parse_chat_request(body)
    assert call.remote_images == [RemoteImage("http://h/a.png", 2, 0)]
    filled = substitute_remote_images(
        call.request, call.remote_images, {"http://h/a.png": ("image/png", "AAAA")}
    )
    assert filled["contents"][2]["parts"] == [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]
    assert call.request["contents"][2]["parts"] == [{"fileData": {"fileUri": "http://h/a.png"}}]
    assert filled["contents"][0] is call.request["contents"][0]  # untouched turns are shared, not copied


def test_thought_signature_round_trip_non_stream() -> None:
    """A signed call answered to the client comes back signed when the client replays it."""
    first = parse_chat_request(chat(tools=[WEATHER_TOOL]))
    gemini = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Need weather.", "thought": True},
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": SIG,
                        },
                        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    answer = render_chat_response(gemini, first, response_id="chatcmpl-1", created=1)
    message = answer["choices"][0]["message"]
    replay = chat(
        messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": message["content"], "tool_calls": message["tool_calls"]},
            *[{"role": "tool", "tool_call_id": c["id"], "content": "sunny"} for c in message["tool_calls"]],
        ],
        tools=[WEATHER_TOOL],
    )
    model_turn = parse_chat_request(replay).request["contents"][1]
    assert model_turn["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
    ]


def test_render_text_thoughts_and_usage(openai_schema: Validate) -> None:
    call = parse_chat_request(chat())
    gemini = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "Let me think", "thought": True}, {"text": "Hel"}, {"text": "lo"}],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 48,
            "candidatesTokenCount": 14,
            "thoughtsTokenCount": 40,
            "cachedContentTokenCount": 8,
            "totalTokenCount": 102,
        },
        "modelVersion": "gemini-2.5-flash",
    }
    answer = render_chat_response(gemini, call, response_id="chatcmpl-x", created=1741290958)
    assert answer == {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1741290958,
        "model": "gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Hello",
                    "refusal": None,
                    "reasoning_content": "Let me think",
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 48,
            "completion_tokens": 54,
            "total_tokens": 102,
            "prompt_tokens_details": {"cached_tokens": 8},
            "completion_tokens_details": {"reasoning_tokens": 40},
        },
    }
    openai_schema("CreateChatCompletionResponse", answer)


def test_render_tool_calls_multiple_candidates_and_filters(openai_schema: Validate) -> None:
    call = parse_chat_request(chat(n=3))
    assert call.request["generationConfig"] == {"candidateCount": 3}
    gemini = {
        "candidates": [
            {
                "content": {"parts": [{"functionCall": {"name": "f", "args": {"x": 1}, "id": "g1"}}]},
                "finishReason": "STOP",
            },
            {"content": {"parts": [{"text": "cut"}]}, "finishReason": "MAX_TOKENS", "index": 1},
            {"finishReason": "SAFETY", "index": 2},
        ]
    }
    answer = render_chat_response(gemini, call, response_id="chatcmpl-2", created=2)
    openai_schema("CreateChatCompletionResponse", answer)
    first, second, third = answer["choices"]
    assert first["finish_reason"] == "tool_calls"
    assert first["message"]["content"] is None
    tool_call = first["message"]["tool_calls"][0]
    assert tool_call["function"] == {"name": "f", "arguments": '{"x":1}'}
    ref = decode_call_id(tool_call["id"])
    assert ref is not None and ref.gemini_id == "g1"
    assert (second["index"], second["finish_reason"], second["message"]["content"]) == (1, "length", "cut")
    assert (third["index"], third["finish_reason"], third["message"]["content"]) == (
        2,
        "content_filter",
        None,
    )
    assert "SAFETY" in third["message"]["refusal"] and third["native_finish_reason"] == "SAFETY"


def test_blocked_prompt_renders_content_filter(openai_schema: Validate) -> None:
    call = parse_chat_request(chat())
    answer = render_chat_response(
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 3}},
        call,
        response_id="chatcmpl-3",
        created=3,
    )
    openai_schema("CreateChatCompletionResponse", answer)
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": "Gemini refused the prompt (blockReason PROHIBITED_CONTENT).",
            },
            "logprobs": None,
            "finish_reason": "content_filter",
            "native_finish_reason": "PROHIBITED_CONTENT",
        }
    ]


def test_logprobs_round_trip(openai_schema: Validate) -> None:
    call = parse_chat_request(chat(logprobs=True, top_logprobs=2))
    assert call.request["generationConfig"] == {"responseLogprobs": True, "logprobs": 2}
    gemini = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hi"}]},
                "finishReason": "STOP",
                "logprobsResult": {
                    "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
                    "topCandidates": [
                        {
                            "candidates": [
                                {"token": "Hi", "logProbability": -0.1},
                                {"token": "Yo", "logProbability": -2.5},
                            ]
                        }
                    ],
                },
            }
        ]
    }
    answer = render_chat_response(gemini, call, response_id="c", created=1)
    openai_schema("CreateChatCompletionResponse", answer)
    content = answer["choices"][0]["logprobs"]["content"]
    assert content[0]["token"] == "Hi" and content[0]["logprob"] == -0.1
    assert [t["token"] for t in content[0]["top_logprobs"]] == ["Hi", "Yo"]


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        ({"response_format": {"type": "json_object"}}, {"responseMimeType": "application/json"}),
        ({"response_format": {"type": "text"}}, None),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "r",
                        "strict": True,
                        "schema": {
                            "type": "object",
                            "properties": {"a": {"type": "integer"}},
                            "additionalProperties": False,
                        },
                    },
                }
            },
            {
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}},
            },
        ),
        ({"max_tokens": 10}, {"maxOutputTokens": 10}),
        ({"max_tokens": 10, "max_completion_tokens": 20}, {"maxOutputTokens": 20}),
        ({"stop": "###"}, {"stopSequences": ["###"]}),
        (
            {"reasoning_effort": "high", "model": "gemini-3-flash-preview"},
            {"thinkingConfig": {"thinkingLevel": "HIGH", "includeThoughts": True}},
        ),
        (
            {
                "extra_body": {
                    "google": {"thinking_config": {"thinking_budget": 800, "include_thoughts": True}}
                }
            },
            {"thinkingConfig": {"thinkingBudget": 800, "includeThoughts": True}},
        ),
        ({"google": {"thinking_config": {"thinking_budget": 0}}}, {"thinkingConfig": {"thinkingBudget": 0}}),
        ({"logit_bias": {"1": 5}, "metadata": {"a": "b"}, "service_tier": "auto"}, None),
    ],
)
def test_generation_parameters(fields: dict[str, Any], config: dict[str, Any] | None) -> None:
    assert parse_chat_request(chat(**fields)).request.get("generationConfig") == config


@pytest.mark.parametrize(
    ("choice", "tool_config"),
    [
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        ),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}],
                },
            },
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
        ),
    ],
)
def test_tool_choice(choice: Any, tool_config: dict[str, Any]) -> None:
    call = parse_chat_request(chat(tools=[WEATHER_TOOL], tool_choice=choice))
    assert call.request["toolConfig"] == tool_config


@pytest.mark.parametrize(
    ("model", "dropped"), [("gemini-2.5-flash", ["googleSearch"]), ("gemini-3-flash-preview", [])]
)
def test_function_without_parameters_and_search_suffix_combined_where_the_model_takes_it(
    model: str, dropped: list[str]
) -> None:
    """Gemini 2.x refuses Google Search beside functions (400); Gemini 3 runs both."""
    call = parse_chat_request(
        chat(model=f"{model}-search", tools=[{"type": "function", "function": {"name": "now"}}])
    )
    assert call.model == model
    search = [] if dropped else [{"googleSearch": {}}]
    assert call.request["tools"] == [{"functionDeclarations": [{"name": "now"}]}, *search]
    assert call.dropped_tools == dropped


def test_stream_flags_and_model_alias() -> None:
    call = parse_chat_request(
        chat(model="gpt-4o", stream=True, stream_options={"include_usage": True}),
        aliases={"gpt-4o": "gemini-2.5-flash"},
    )
    assert (call.model, call.client_model, call.stream, call.include_usage) == (
        "gemini-2.5-flash",
        "gpt-4o",
        True,
        True,
    )


def test_nothinking_suffix_overrides_effort() -> None:
    call = parse_chat_request(chat(model="gemini-2.5-flash-nothinking", reasoning_effort="high"))
    assert call.request["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


@pytest.mark.parametrize(
    ("body", "param", "text"),
    [
        ([], None, "JSON object"),
        ({"messages": [{"role": "user", "content": "x"}]}, "model", "required"),
        (chat(messages="hi"), "messages", "expected an array"),
        (chat(messages=[]), "messages", "at least one"),
        (chat(messages=[{"role": "system", "content": "only"}]), "messages", "user or assistant"),
        (chat(messages=["hi"]), "messages[0]", "expected an object"),
        (chat(messages=[{"role": "robot", "content": "x"}]), "messages[0].role", "unknown role"),
        (chat(messages=[{"role": "user", "content": 5}]), "messages[0].content", "expected a string"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "video", "video": {}}]}]),
            "messages[0].content[0].type",
            "unsupported",
        ),
        (
            chat(
                messages=[
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}
                ]
            ),
            "messages[0].content[0].image_url.url",
            "http",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
                    }
                ]
            ),
            "messages[0].content[0].image_url.url",
            "base64",
        ),
        (
            chat(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]}]),
            "messages[0].content[0].file.file_id",
            "Gemini file",
        ),
        (
            chat(messages=[{"role": "tool", "tool_call_id": "call_x", "content": "r"}]),
            "messages[0].tool_call_id",
            "does not match",
        ),
        (chat(messages=[{"role": "tool", "content": "r"}]), "messages[0].tool_call_id", "required"),
        (
            chat(
                messages=[
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"arguments": "{}"}}],
                    }
                ]
            ),
            "messages[0].tool_calls[0].function.name",
            "required",
        ),
        (
            chat(tools=[{"type": "function", "function": {"description": "no name"}}]),
            "tools[0].function.name",
            "required",
        ),
        (chat(tools="get_weather"), "tools", "expected an array"),
        (chat(tools=[WEATHER_TOOL], tool_choice="sometimes"), "tool_choice", "expected auto"),
        (
            chat(tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}),
            "tool_choice",
            "not among",
        ),
        (chat(temperature="warm"), "temperature", "expected a number"),
        (chat(temperature=2.5), "temperature", "<= 2.0"),
        (chat(n=0), "n", ">= 1"),
        (chat(stop=["1", "2", "3", "4", "5", "6"]), "stop", "at most 5"),
        (chat(response_format={"type": "xml"}), "response_format.type", "expected text"),
        (chat(reasoning_effort="turbo"), "reasoning_effort", "expected one of"),
        (
            chat(reasoning_effort="low", extra_body={"google": {"thinking_config": {}}}),
            "reasoning_effort",
            "cannot be combined",
        ),
        (chat(stream="yes"), "stream", "expected a boolean"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(body: Any, param: str | None, text: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_chat_request(body)
    assert isinstance(info.value, RequestError)
    assert info.value.status_code == 400
    assert info.value.param == param
    assert text in info.value.message


def test_parse_never_mutates_the_body() -> None:
    body = chat(tools=[WEATHER_TOOL], messages=[{"role": "user", "content": [{"type": "text", "text": "a"}]}])
    before = orjson.dumps(body)
    parse_chat_request(body)
    assert orjson.dumps(body) == before


def test_chat_call_is_a_plain_dataclass() -> None:
    call = ChatCall(model="m", request={}, client_model="m")
    assert call.remote_images == [] and call.n == 1


def test_spec_validator_rejects_wrong_shapes(openai_schema: Validate) -> None:
    """Guards the guard: the conformance checks above would catch a broken answer."""
    good = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "a", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    openai_schema("CreateChatCompletionResponse", good)
    bad_reason = {**good, "choices": [{**good["choices"][0], "finish_reason": "end_turn"}]}
    with pytest.raises(AssertionError):
        openai_schema("CreateChatCompletionResponse", bad_reason)
    no_logprobs = {**good, "choices": [{k: v for k, v in good["choices"][0].items() if k != "logprobs"}]}
    with pytest.raises(AssertionError):
        openai_schema("CreateChatCompletionResponse", no_logprobs)


def test_legacy_function_messages_and_tool_images() -> None:
    call = parse_chat_request(
        chat(
            messages=[
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": "", "function_call": {"name": "legacy", "arguments": "{}"}},
                {"role": "function", "name": "legacy", "content": "done"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "call_s", "type": "function", "function": {"name": "shot", "arguments": ""}}
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_s",
                    "content": [
                        {"type": "text", "text": "captured"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                    ],
                },
            ]
        )
    )
    contents = call.request["contents"]
    assert contents[1]["parts"] == [
        {"functionCall": {"name": "legacy", "args": {}}, "thoughtSignature": SKIP_SIGNATURE}
    ]
    assert contents[2]["parts"] == [{"functionResponse": {"name": "legacy", "response": {"output": "done"}}}]
    assert contents[4]["parts"] == [
        {"functionResponse": {"name": "shot", "response": {"output": "captured"}}},
        {"inlineData": {"mimeType": "image/png", "data": "QUJD"}},
    ]


def test_handler_facing_api_is_importable() -> None:
    """The names the HTTP handlers are written against; renaming one is a breaking change."""
    import importlib

    surface = {
        "openai_chat": ["ChatCall", "parse_chat_request", "render_chat_response"],
        "openai_stream": ["ChatStreamTranslator", "error_event"],
        "openai_errors": ["render_openai_error", "openai_error_object"],
        "openai_models": ["render_models", "render_model"],
        "openai_embeddings": ["EmbeddingsCall", "parse_embeddings_request", "render_embeddings_response"],
        "openai_images": ["ImagesCall", "parse_images_request", "render_images_response"],
        "openai_speech": ["SpeechCall", "parse_speech_request", "render_speech_audio"],
        "openai_responses": ["ResponsesCall", "parse_responses_request", "render_responses_response"],
        "openai_responses_stream": ["ResponsesStreamTranslator"],
        "anthropic_messages": [
            "MessagesCall",
            "parse_messages_request",
            "render_messages_response",
            "parse_count_tokens_request",
            "render_count_tokens",
        ],
        "anthropic_stream": ["MessagesStreamTranslator"],
        "anthropic_errors": ["render_anthropic_error"],
        "media": ["RemoteImage", "substitute_remote_images"],
        "generation": ["apply_model_suffixes"],
        "common": ["ParamError"],
    }
    for module, names in surface.items():
        loaded = importlib.import_module(f"gemini_gateway.dialects.{module}")
        missing = [n for n in names if not hasattr(loaded, n)]
        assert not missing, f"{module}: {missing}"
