"""OpenAI Responses API: stateless request translation, response object, named-event stream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gemini_gateway.dialects.common import SKIP_SIGNATURE, ParamError
from gemini_gateway.dialects.openai_responses import parse_responses_request, render_responses_response
from gemini_gateway.dialects.openai_responses_stream import ResponsesStreamTranslator
from gemini_gateway.errors import UpstreamError

Validate = Callable[[str, Any], None]  # the `openai_schema` fixture

SIG = "Cq8CAdHtim8+/AbCQQc="  # canonical base64 with + / and padding
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.reasoning_summary_part.added": "ResponseReasoningSummaryPartAddedEvent",
    "response.reasoning_summary_part.done": "ResponseReasoningSummaryPartDoneEvent",
    "response.reasoning_summary_text.delta": "ResponseReasoningSummaryTextDeltaEvent",
    "response.reasoning_summary_text.done": "ResponseReasoningSummaryTextDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "error": "ResponseErrorEvent",
}
SHELL_TOOL = {
    "type": "function",
    "name": "shell",
    "description": "Run a command",
    "parameters": {
        "type": "object",
        "properties": {"command": {"type": "array", "items": {"type": "string"}}},
        "required": ["command"],
        "additionalProperties": False,
    },
    "strict": False,
}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "input": "hi", **fields}


def test_string_input_and_parameters() -> None:
    call = parse_responses_request(
        body(
            instructions="Be brief.",
            temperature=0.3,
            top_p=0.8,
            max_output_tokens=100,
            store=False,
            include=[],
        )
    )
    assert call.request == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "topP": 0.8, "maxOutputTokens": 100},
    }


def test_item_input_golden() -> None:
    call = parse_responses_request(
        body(
            input=[
                {"role": "developer", "content": "Use the shell."},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "List files"}],
                },
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "function_call",
                    "call_id": "call_x",
                    "name": "shell",
                    "arguments": '{"command":["ls"]}',
                },
                {"type": "function_call_output", "call_id": "call_x", "output": "a.txt"},
                {"role": "assistant", "content": [{"type": "output_text", "text": "One file."}]},
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}],
                },
            ],
            tools=[SHELL_TOOL, {"type": "web_search"}, {"type": "file_search", "vector_store_ids": []}],
            tool_choice={"type": "function", "name": "shell"},
            reasoning={"effort": "low", "summary": "auto"},
            text={
                "format": {
                    "type": "json_schema",
                    "name": "out",
                    "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
                }
            },
        )
    )
    assert call.request == {
        "systemInstruction": {"parts": [{"text": "Use the shell."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "List files"}]},
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "shell", "args": {"command": ["ls"]}},
                        "thoughtSignature": SKIP_SIGNATURE,
                    }
                ],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "shell", "response": {"output": "a.txt"}}}],
            },
            {"role": "model", "parts": [{"text": "One file."}]},
            {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "shell",
                        "description": "Run a command",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"command": {"type": "ARRAY", "items": {"type": "STRING"}}},
                            "required": ["command"],
                        },
                    }
                ]
            },
            # Google Search beside functions only on Gemini 3: left out here, and said so.
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["shell"]}},
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
            "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        },
    }
    assert call.dropped_tools == ["googleSearch"]


def test_namespace_tools_are_flattened_and_calls_mapped_back() -> None:
    """Codex CLI's sub-agent tools: declared as `namespace.name`, answered with `namespace` set."""
    namespace = {
        "type": "namespace",
        "name": "multi_agent_v1",
        "description": "Sub-agents.",
        "tools": [
            {"type": "function", "name": "spawn_agent", "strict": False, "parameters": {"type": "object"}}
        ],
    }
    call = parse_responses_request(
        body(
            tools=[namespace],
            input=[
                {"role": "user", "content": "go"},
                {
                    "type": "function_call",
                    "namespace": "multi_agent_v1",
                    "name": "spawn_agent",
                    "call_id": "c1",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ],
        )
    )
    assert call.request["tools"] == [{"functionDeclarations": [{"name": "multi_agent_v1.spawn_agent"}]}]
    assert [p["functionCall"]["name"] for p in call.request["contents"][1]["parts"]] == [
        "multi_agent_v1.spawn_agent"
    ]
    answer = {
        "candidates": [
            {"content": {"parts": [{"functionCall": {"name": "multi_agent_v1.spawn_agent", "args": {}}}]}}
        ]
    }
    (item,) = render_responses_response(answer, call, response_id="resp_1", created_at=1)["output"]
    assert (item["namespace"], item["name"]) == ("multi_agent_v1", "spawn_agent")
    with pytest.raises(ParamError) as info:
        parse_responses_request(body(tools=[{**namespace, "name": "n" * 60}]))
    assert info.value.param == "tools[0].tools[0]" and "64" in info.value.message


def test_reasoning_without_summary_hides_thoughts() -> None:
    call = parse_responses_request(body(reasoning={"effort": "high"}))
    assert call.request["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 24576}}


@pytest.mark.parametrize(
    ("fields", "param", "text"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id", "full input"),
        ({"input": []}, "input", "non-empty"),
        ({"input": ""}, "input", "empty"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type", "item references"),
        ({"input": [{"type": "mystery"}]}, "input[0].type", "unsupported"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "expected user"),
        (
            {"input": [{"type": "function_call_output", "call_id": "call_9", "output": "x"}]},
            "input[0].call_id",
            "does not match",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_video"}]}]},
            "input[0].content[0].type",
            "unsupported",
        ),
        ({"tools": [{"type": "function", "parameters": {}}]}, "tools[0].name", "required"),
        ({"reasoning": {"effort": "ultra"}}, "reasoning.effort", "expected one of"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type", "expected text"),
        ({"max_output_tokens": 0}, "max_output_tokens", ">= 1"),
    ],
)
def test_errors(fields: dict[str, Any], param: str, text: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_responses_request(body(**fields))
    assert (info.value.param, info.value.status_code) == (param, 400)
    assert text in info.value.message


def gemini_answer(*parts: dict[str, Any], finish: str = "STOP") -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish}],
        "usageMetadata": {
            "promptTokenCount": 20,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
            "totalTokenCount": 32,
        },
    }


def test_non_stream_response_object_and_signature_round_trip(openai_schema: Validate) -> None:
    call = parse_responses_request(body(tools=[SHELL_TOOL]))
    answer = gemini_answer(
        {"text": "Plan: list files.", "thought": True},
        {"text": "Running ls."},
        {"functionCall": {"name": "shell", "args": {"command": ["ls"]}}, "thoughtSignature": SIG},
    )
    out = render_responses_response(answer, call, response_id="resp_1", created_at=1700000000)
    openai_schema("Response", out)
    assert (out["id"], out["object"], out["status"], out["model"]) == (
        "resp_1",
        "response",
        "completed",
        "gemini-2.5-flash",
    )
    assert [item["type"] for item in out["output"]] == ["reasoning", "message", "function_call"]
    reasoning, message, function_call = out["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Plan: list files."}]
    assert message["content"][0]["text"] == "Running ls." and message["role"] == "assistant"
    assert (function_call["name"], function_call["arguments"]) == ("shell", '{"command":["ls"]}')
    assert out["usage"] == {
        "input_tokens": 20,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 12,
        "output_tokens_details": {"reasoning_tokens": 7},
        "total_tokens": 32,
    }
    # Codex-style replay: the output items go back as input, plus the call's output.
    output = {"type": "function_call_output", "call_id": function_call["call_id"], "output": "a"}
    replay = parse_responses_request(body(input=[{"role": "user", "content": "hi"}, *out["output"], output]))
    model_turn = replay.request["contents"][1]
    assert model_turn["parts"] == [
        {"text": "Running ls."},
        {"functionCall": {"name": "shell", "args": {"command": ["ls"]}}, "thoughtSignature": SIG},
    ]


def test_max_tokens_is_incomplete(openai_schema: Validate) -> None:
    call = parse_responses_request(body())
    out = render_responses_response(
        gemini_answer({"text": "cut"}, finish="MAX_TOKENS"), call, response_id="r", created_at=1
    )
    openai_schema("Response", out)
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}


def run_stream(call_body: dict[str, Any], events: list[dict[str, Any]]) -> list[bytes]:
    t = ResponsesStreamTranslator(parse_responses_request(call_body), "resp_s", 1700000000)
    frames: list[bytes] = []
    for e in events:
        frames += t.feed(e)
    return frames + t.finish()


def test_stream_event_sequence(sse_events: Any, openai_schema: Validate) -> None:
    frames = run_stream(
        body(tools=[SHELL_TOOL], stream=True),
        [
            {"candidates": [{"content": {"parts": [{"text": "Think", "thought": True}]}}]},
            {"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]},
            {"candidates": [{"content": {"parts": [{"text": "lo"}]}}]},
            gemini_answer(
                {"functionCall": {"name": "shell", "args": {"command": ["ls"]}}, "thoughtSignature": SIG}
            ),
        ],
    )
    events = sse_events(frames)
    names = [name for name, _ in events]
    assert names == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    for i, (name, payload) in enumerate(events):
        assert payload["type"] == name and payload["sequence_number"] == i
        openai_schema(EVENT_SCHEMAS[name], payload)
    by_name = {name: payload for name, payload in events}
    assert by_name["response.output_text.done"]["text"] == "Hello"
    assert [p["output_index"] for n, p in events if n == "response.output_item.added"] == [0, 1, 2]
    final = by_name["response.completed"]["response"]
    assert final["status"] == "completed" and final["usage"]["total_tokens"] == 32
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    call_item = by_name["response.function_call_arguments.done"]
    assert (call_item["name"], call_item["arguments"]) == ("shell", '{"command":["ls"]}')
    replay = parse_responses_request(
        body(
            input=[
                {"role": "user", "content": "hi"},
                final["output"][2],
                {"type": "function_call_output", "call_id": final["output"][2]["call_id"], "output": "a"},
            ]
        )
    )
    assert replay.request["contents"][1]["parts"][0]["thoughtSignature"] == SIG


def test_stream_incomplete_and_error(sse_events: Any, openai_schema: Validate) -> None:
    events = sse_events(run_stream(body(), [gemini_answer({"text": "long"}, finish="MAX_TOKENS")]))
    name, payload = events[-1]
    assert name == "response.incomplete"
    openai_schema("ResponseIncompleteEvent", payload)
    assert payload["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-2][1]["item"]["status"] == "incomplete"

    t = ResponsesStreamTranslator(parse_responses_request(body()), "resp_e", 1)
    started = t.feed({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})
    err = sse_events(
        [
            t.error_event(
                UpstreamError(503, b'{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}')
            )
        ]
    )
    assert err[0][0] == "error"
    assert err[0][1]["sequence_number"] == len(started)
    assert err[0][1]["message"] == "overloaded"
    openai_schema("ResponseErrorEvent", err[0][1])
