"""Anthropic Messages: request -> canonical, answer, stream events, count_tokens, errors."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from gemini_gateway.dialects.anthropic_content import SIGNATURE_PREFIX
from gemini_gateway.dialects.anthropic_errors import render_anthropic_error
from gemini_gateway.dialects.anthropic_messages import (
    parse_count_tokens_request,
    parse_messages_request,
    render_count_tokens,
    render_messages_response,
)
from gemini_gateway.dialects.anthropic_stream import MessagesStreamTranslator
from gemini_gateway.dialects.common import SKIP_SIGNATURE, ParamError
from gemini_gateway.dialects.media import RemoteImage
from gemini_gateway.errors import GatewayError, NoCredentialAvailable, RequestError, UpstreamError

SIG = base64.b64encode(bytes(range(250, 256)) + b"gemini-thought").decode()
READ_TOOL = {
    "name": "Read",
    "description": "Read a file",
    "input_schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "limit": {"type": "number"}},
        "required": ["file_path"],
        "additionalProperties": False,
    },
}


def body(**fields: Any) -> dict[str, Any]:
    return {
        "model": "gemini-2.5-pro",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }


def test_minimal_request() -> None:
    call = parse_messages_request(body())
    assert call.request == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {"maxOutputTokens": 1024},
    }
    assert not call.stream


def test_claude_code_like_conversation_golden() -> None:
    call = parse_messages_request(
        body(
            system=[{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "Read a.py"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Reading."},
                        {
                            "type": "tool_use",
                            "id": "toolu_01A",
                            "name": "Read",
                            "input": {"file_path": "a.py"},
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01A",
                            "content": [{"type": "text", "text": "print(1)"}],
                        },
                        {"type": "text", "text": "Explain it"},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"},
                        }
                    ],
                },
            ],
            tools=[READ_TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
            tool_choice={"type": "auto"},
            temperature=0.5,
            top_p=0.9,
            top_k=40,
            stop_sequences=["</done>"],
            thinking={"type": "enabled", "budget_tokens": 2048},
            metadata={"user_id": "u"},
        )
    )
    assert call.request == {
        "systemInstruction": {"parts": [{"text": "You are Claude Code."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Read a.py"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Reading."},
                    {
                        "functionCall": {"name": "Read", "args": {"file_path": "a.py"}},
                        "thoughtSignature": SKIP_SIGNATURE,
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "Read", "response": {"output": "print(1)"}}},
                    {"text": "Explain it"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "Read",
                        "description": "Read a file",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"file_path": {"type": "STRING"}, "limit": {"type": "NUMBER"}},
                            "required": ["file_path"],
                        },
                    }
                ]
            },
            # Gemini 2.x refuses Google Search beside functions: left out, and said so.
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {
            "maxOutputTokens": 1024,
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["</done>"],
            "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048},
        },
    }
    assert call.dropped_tools == ["googleSearch"]


def test_system_messages_anywhere_keep_their_place() -> None:
    """Leading system messages extend the system instruction; later ones are user-turn text where
    they stand; `clear_at: next_user_message` ones drop out once a later user message exists."""
    call = parse_messages_request(
        body(
            system="Top.",
            messages=[
                {"role": "system", "content": "Leading."},
                {"role": "user", "content": "Q1"},
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "Once."}],
                    "clear_at": "next_user_message",
                },
                {"role": "assistant", "content": "A1"},
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "Mid."}, {"type": "tool_removal", "names": ["x"]}],
                },
                {"role": "user", "content": "Q2"},
                {
                    "role": "system",
                    "content": "Last.",
                    "clear_at": "next_user_message",
                    "output_config": {"effort": "low"},
                },
            ],
        )
    )
    assert call.request["systemInstruction"] == {"parts": [{"text": "Top."}, {"text": "Leading."}]}
    assert call.request["contents"] == [
        {"role": "user", "parts": [{"text": "Q1"}]},
        {"role": "model", "parts": [{"text": "A1"}]},
        {"role": "user", "parts": [{"text": "Mid."}, {"text": "Q2"}, {"text": "Last."}]},
    ]


def test_anthropic_error_names_fields_as_anthropic_does() -> None:
    with pytest.raises(ParamError) as info:
        parse_messages_request(body(messages=[{"role": "user", "content": [{"type": "video"}]}]))
    status, raw = render_anthropic_error(info.value)
    assert (status, orjson.loads(raw)["error"]["message"]) == (
        400,
        "messages.0.content.0.type: unsupported content block type 'video'",
    )


def test_tool_result_errors_images_and_documents() -> None:
    call = parse_messages_request(
        body(
            messages=[
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "is_error": True,
                            "content": [
                                {"type": "text", "text": "failed"},
                                {
                                    "type": "image",
                                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                                },
                            ],
                        },
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                        },
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "plain doc"},
                        },
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}},
                    ],
                },
            ]
        )
    )
    parts = call.request["contents"][2]["parts"]
    assert parts == [
        {"functionResponse": {"name": "shot", "response": {"error": "failed"}}},
        {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        {"text": "plain doc"},
        {"fileData": {"fileUri": "https://example.com/x.png"}},
    ]
    assert call.remote_images == [RemoteImage("https://example.com/x.png", 2, 4)]


@pytest.mark.parametrize(
    ("thinking", "model", "config"),
    [
        ({"type": "disabled"}, "gemini-2.5-flash", {"thinkingBudget": 0}),
        ({"type": "disabled"}, "gemini-2.5-pro", {"thinkingBudget": 128}),
        ({"type": "adaptive"}, "gemini-2.5-pro", {"includeThoughts": True}),
        # Gemini 3 thinks in levels: a budget is read as the level it comes closest to.
        (
            {"type": "enabled", "budget_tokens": 0},
            "gemini-3-flash-preview",
            {"includeThoughts": True, "thinkingLevel": "MINIMAL"},
        ),
        (
            {"type": "enabled", "budget_tokens": 1024},
            "gemini-3-flash-preview",
            {"includeThoughts": True, "thinkingLevel": "LOW"},
        ),
        (
            {"type": "enabled", "budget_tokens": 8000},
            "gemini-3-flash-preview",
            {"includeThoughts": True, "thinkingLevel": "MEDIUM"},
        ),
        (
            {"type": "enabled", "budget_tokens": 8000},
            "gemini-3-pro-preview",
            {"includeThoughts": True, "thinkingLevel": "HIGH"},
        ),
        (
            {"type": "enabled", "budget_tokens": 32000},
            "gemini-3-flash-preview",
            {"includeThoughts": True, "thinkingLevel": "HIGH"},
        ),
    ],
)
def test_thinking_modes(thinking: dict[str, Any], model: str, config: dict[str, Any]) -> None:
    call = parse_messages_request(body(model=model, thinking=thinking))
    assert call.request["generationConfig"]["thinkingConfig"] == config


@pytest.mark.parametrize(
    ("model", "config"),
    [
        ("gemini-3-flash-preview", {"includeThoughts": True, "thinkingLevel": "MEDIUM"}),
        ("gemini-3-pro-preview", {"includeThoughts": True, "thinkingLevel": "HIGH"}),
        ("gemini-2.5-flash", {"includeThoughts": True, "thinkingBudget": 8192}),
    ],
)
def test_adaptive_thinking_takes_its_effort_from_output_config(model: str, config: dict[str, Any]) -> None:
    """What Claude Code sends: adaptive thinking, with `output_config.effort` saying how much."""
    call = parse_messages_request(
        body(
            model=model,
            thinking={"type": "adaptive", "display": "omitted"},
            output_config={"effort": "medium"},
        )
    )
    assert call.request["generationConfig"]["thinkingConfig"] == config


def test_tool_choice_variants() -> None:
    for choice, expected in (
        ({"type": "any"}, {"mode": "ANY"}),
        ({"type": "none"}, {"mode": "NONE"}),
        (
            {"type": "tool", "name": "Read", "disable_parallel_tool_use": True},
            {"mode": "ANY", "allowedFunctionNames": ["Read"]},
        ),
    ):
        call = parse_messages_request(body(tools=[READ_TOOL], tool_choice=choice))
        assert call.request["toolConfig"] == {"functionCallingConfig": expected}


@pytest.mark.parametrize(
    ("fields", "param", "text"),
    [
        ({"max_tokens": None}, "max_tokens", "Field required"),
        ({"model": None}, "model", "required"),
        ({"messages": "hi"}, "messages", "expected an array"),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            "messages[0].role",
            "Input should be 'user', 'assistant' or 'system'",
        ),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages", "all messages are empty"),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "system", "content": [{"type": "image"}]},
                ]
            },
            "messages[1].content[0]",
            "text-only role 'system' messages require text content blocks",
        ),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content", "expected a string"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video"}]}]},
            "messages[0].content[0].type",
            "unsupported",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}],
                    }
                ]
            },
            "messages[0].content[0].tool_use_id",
            "does not match",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ]
            },
            "messages[0].content[0].source.type",
            "unsupported",
        ),
        ({"system": 5}, "system", "expected a string"),
        ({"tools": [{"input_schema": {"type": "object"}}]}, "tools[0].name", "Field required"),
        (
            {"tools": [READ_TOOL], "tool_choice": {"type": "tool", "name": "Write"}},
            "tool_choice.name",
            "not among",
        ),
        ({"tools": [READ_TOOL], "tool_choice": {"type": "sometimes"}}, "tool_choice.type", "expected auto"),
        ({"thinking": {"type": "enabled"}}, "thinking.budget_tokens", "Field required"),
        ({"thinking": {"type": "maybe"}}, "thinking.type", "expected enabled"),
        ({"temperature": 1.5}, "temperature", "<= 1.0"),
        ({"stop_sequences": 7}, "stop_sequences", "expected a string"),
    ],
)
def test_errors(fields: dict[str, Any], param: str, text: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_messages_request(body(**fields))
    assert (info.value.param, info.value.status_code) == (param, 400)
    assert text in info.value.message


def test_server_blocks_from_real_claude_history_are_skipped_and_foreign_signatures_dropped() -> None:
    call = parse_messages_request(
        body(
            messages=[
                {"role": "user", "content": "search"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "EqQBClaudeSignature"},
                        {"type": "redacted_thinking", "data": "xyz"},
                        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
                        {"type": "text", "text": "Found it."},
                    ],
                },
                {"role": "user", "content": "thanks"},
            ]
        )
    )
    assert call.request["contents"][1] == {"role": "model", "parts": [{"text": "Found it."}]}


GEMINI_TOOL_ANSWER = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "I should read it.", "thought": True},
                    {
                        "functionCall": {"name": "Read", "args": {"file_path": "a.py"}},
                        "thoughtSignature": SIG,
                    },
                ],
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 40,
        "candidatesTokenCount": 10,
        "thoughtsTokenCount": 20,
        "totalTokenCount": 130,
    },
}


def test_render_and_round_trip_signature_non_stream() -> None:
    call = parse_messages_request(body(tools=[READ_TOOL]))
    message = render_messages_response(GEMINI_TOOL_ANSWER, call, message_id="msg_1")
    assert message["id"] == "msg_1" and message["type"] == "message" and message["role"] == "assistant"
    assert message["stop_reason"] == "tool_use" and message["stop_sequence"] is None
    thinking, tool_use = message["content"]
    assert thinking == {
        "type": "thinking",
        "thinking": "I should read it.",
        "signature": SIGNATURE_PREFIX + SIG,
    }
    assert (
        tool_use["type"] == "tool_use"
        and tool_use["name"] == "Read"
        and tool_use["input"] == {"file_path": "a.py"}
    )
    assert tool_use["id"].startswith("toolu_")
    assert message["usage"] == {
        "input_tokens": 60,
        "output_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 40,
    }

    replay = parse_messages_request(
        body(
            tools=[READ_TOOL],
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": message["content"]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": tool_use["id"], "content": "print(1)"}
                    ],
                },
            ],
        )
    )
    assert replay.request["contents"][1]["parts"] == [
        {"functionCall": {"name": "Read", "args": {"file_path": "a.py"}}, "thoughtSignature": SIG}
    ]


def test_thinking_signature_alone_restores_a_text_turn() -> None:
    """Gemini 3 signs the text after its thoughts; the thinking block carries it back."""
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": "plan", "thought": True}, {"text": "Done.", "thoughtSignature": SIG}]
                },
                "finishReason": "STOP",
            }
        ]
    }
    message = render_messages_response(answer, parse_messages_request(body()), message_id="m")
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]
    replay = parse_messages_request(
        body(
            messages=[
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": message["content"]},
                {"role": "user", "content": "b"},
            ]
        )
    )
    assert replay.request["contents"][1]["parts"] == [{"text": "Done.", "thoughtSignature": SIG}]


@pytest.mark.parametrize(
    ("reason", "stop"),
    [("STOP", "end_turn"), ("MAX_TOKENS", "max_tokens"), ("SAFETY", "refusal"), ("RECITATION", "refusal")],
)
def test_stop_reasons(reason: str, stop: str) -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert (
        render_messages_response(answer, parse_messages_request(body()), message_id="m")["stop_reason"]
        == stop
    )


def test_blocked_prompt_is_a_refusal() -> None:
    out = render_messages_response(
        {"promptFeedback": {"blockReason": "SAFETY"}}, parse_messages_request(body()), message_id="m"
    )
    why = "Gemini refused the prompt (blockReason SAFETY)."
    assert (out["content"], out["stop_reason"]) == ([{"type": "text", "text": why}], "refusal")
    assert out["stop_details"] == {"type": "refusal", "category": None, "explanation": why}


def run_stream(events: list[dict[str, Any]], **fields: Any) -> list[bytes]:
    t = MessagesStreamTranslator(parse_messages_request(body(stream=True, **fields)), "msg_s")
    frames: list[bytes] = []
    for e in events:
        frames += t.feed(e)
    return frames + t.finish()


def test_stream_exact_event_sequence(sse_events: Any) -> None:
    frames = run_stream(
        [
            {
                "candidates": [{"content": {"parts": [{"text": "Let me", "thought": True}]}}],
                "usageMetadata": {"promptTokenCount": 48},
            },
            {"candidates": [{"content": {"parts": [{"text": " check", "thought": True}]}}]},
            {"candidates": [{"content": {"parts": [{"text": "Hi", "thoughtSignature": SIG}]}}]},
            {
                "candidates": [
                    {
                        "content": {
                            "parts": [{"functionCall": {"name": "Read", "args": {"file_path": "a.py"}}}]
                        },
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 48,
                    "candidatesTokenCount": 14,
                    "thoughtsTokenCount": 40,
                    "totalTokenCount": 102,
                },
            },
        ],
        tools=[READ_TOOL],
    )
    events = sse_events(frames)
    for name, payload in events:
        assert payload["type"] == name
    simplified = [
        (n, p.get("index"), (p.get("delta") or p.get("content_block") or {}).get("type")) for n, p in events
    ]
    assert simplified == [
        ("message_start", None, None),
        ("content_block_start", 0, "thinking"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "thinking_delta"),
        ("content_block_delta", 0, "signature_delta"),
        ("content_block_stop", 0, None),
        ("content_block_start", 1, "text"),
        ("content_block_delta", 1, "text_delta"),
        ("content_block_stop", 1, None),
        ("content_block_start", 2, "tool_use"),
        ("content_block_delta", 2, "input_json_delta"),
        ("content_block_stop", 2, None),
        ("message_delta", None, None),
        ("message_stop", None, None),
    ]
    start = events[0][1]["message"]
    assert start["usage"]["input_tokens"] == 48 and start["usage"]["output_tokens"] == 0
    assert start["content"] == [] and start["stop_reason"] is None
    assert events[4][1]["delta"] == {"type": "signature_delta", "signature": SIGNATURE_PREFIX + SIG}
    tool_start = events[9][1]["content_block"]
    assert tool_start["input"] == {} and tool_start["name"] == "Read"
    assert orjson.loads(events[10][1]["delta"]["partial_json"]) == {"file_path": "a.py"}
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == 54


def test_stream_of_nothing_is_still_well_formed(sse_events: Any) -> None:
    names = [n for n, _ in sse_events(run_stream([]))]
    assert names == ["message_start", "message_delta", "message_stop"]


def test_stream_error_event(sse_events: Any) -> None:
    frame = MessagesStreamTranslator.error_event(
        UpstreamError(
            503, b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'
        )
    )
    assert sse_events([frame]) == [
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "The model is overloaded."}},
        )
    ]


def test_count_tokens() -> None:
    model, request = parse_count_tokens_request(
        {
            "model": "gemini-2.5-flash",
            "system": "sys",
            "messages": [{"role": "user", "content": "count me"}],
            "tools": [READ_TOOL],
            "tool_choice": {"type": "any"},
        }
    )
    assert model == "gemini-2.5-flash"
    assert request["generateContentRequest"]["model"] == "models/gemini-2.5-flash"
    assert request["generateContentRequest"]["contents"] == [
        {"role": "user", "parts": [{"text": "count me"}]}
    ]
    assert request["generateContentRequest"]["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert "toolConfig" not in request["generateContentRequest"]
    assert "generationConfig" not in request["generateContentRequest"]
    assert render_count_tokens({"totalTokens": 31}) == {"input_tokens": 31}


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (ParamError("max_tokens", "Field required"), 400, "invalid_request_error"),
        (RequestError("bad key", status_code=401), 401, "authentication_error"),
        (RequestError("forbidden", status_code=403), 403, "permission_error"),
        (RequestError("no such model", status_code=404), 404, "not_found_error"),
        (NoCredentialAvailable("cooling", retry_after=5), 429, "rate_limit_error"),
        (GatewayError("boom"), 500, "api_error"),
        (UpstreamError(503, b'{"error":{"message":"overloaded"}}'), 503, "overloaded_error"),
    ],
)
def test_anthropic_error_envelope(exc: GatewayError, status: int, kind: str) -> None:
    got, raw = render_anthropic_error(exc)
    assert got == status
    assert orjson.loads(raw) == {"type": "error", "error": {"type": kind, "message": exc.message}}


SERVER_TOOLS = [
    {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
    {"type": "web_fetch_20250910", "name": "web_fetch"},
    {"type": "code_execution_20250825", "name": "code_execution"},
]


@pytest.mark.parametrize(
    ("name", "built_in"),
    [("web_search", "googleSearch"), ("web_fetch", "urlContext"), ("code_execution", "codeExecution")],
)
def test_tool_choice_naming_a_server_tool_keeps_that_tool(name: str, built_in: str) -> None:
    """Gemini cannot force a built-in tool: the choice becomes AUTO with the tool present. On
    Gemini 2.x (no built-in tools beside functions) a turn forced onto it drops the functions."""
    choice = {"type": "tool", "name": name}
    only = parse_messages_request(body(tools=SERVER_TOOLS, tool_choice=choice))
    assert {key for tool in only.request["tools"] for key in tool} == {
        "googleSearch",
        "urlContext",
        "codeExecution",
    }
    assert "toolConfig" not in only.request
    mixed = parse_messages_request(body(tools=[READ_TOOL, *SERVER_TOOLS], tool_choice=choice))
    keys = [key for tool in mixed.request["tools"] for key in tool]
    assert built_in in keys and "functionDeclarations" not in keys and not mixed.dropped_tools
    assert "toolConfig" not in mixed.request
    gemini3 = parse_messages_request(
        body(model="gemini-3-pro-preview", tools=[READ_TOOL, *SERVER_TOOLS], tool_choice=choice)
    )
    keys = [key for tool in gemini3.request["tools"] for key in tool]
    assert "functionDeclarations" in keys and built_in in keys  # Gemini 3 takes both
    assert "toolConfig" not in gemini3.request
    with pytest.raises(ParamError):  # a name that is neither a function nor a server tool
        parse_messages_request(
            body(tools=[READ_TOOL, SERVER_TOOLS[0]], tool_choice={"type": "tool", "name": "web_fetch"})
        )


def test_usage_counts_server_tool_use_from_grounding() -> None:
    call = parse_messages_request(body(tools=SERVER_TOOLS))
    grounded = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "It is sunny."}]},
                "finishReason": "STOP",
                "groundingMetadata": {
                    "webSearchQueries": ["weather today", "forecast"],
                    "groundingChunks": [{"web": {"uri": "https://example.com", "title": "example.com"}}],
                },
                "urlContextMetadata": {
                    "urlMetadata": [
                        {
                            "retrievedUrl": "https://example.com",
                            "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS",
                        }
                    ]
                },
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 4, "totalTokenCount": 9},
    }
    usage = render_messages_response(grounded, call, message_id="msg_1")["usage"]
    assert usage["server_tool_use"] == {"web_search_requests": 2, "web_fetch_requests": 1}
    plain = {
        **grounded,
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}],
    }
    assert "server_tool_use" not in render_messages_response(plain, call, message_id="msg_2")["usage"]
    translator = MessagesStreamTranslator(call, "msg_s")
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "It is"}]}}]}
    frames = [*translator.feed(first), *translator.feed(grounded), *translator.finish()]
    deltas = [orjson.loads(f.split(b"data: ", 1)[1]) for f in frames if f.startswith(b"event: message_delta")]
    assert deltas[-1]["usage"]["server_tool_use"] == {"web_search_requests": 2, "web_fetch_requests": 1}
