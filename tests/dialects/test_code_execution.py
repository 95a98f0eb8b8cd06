"""Code execution in each dialect's own shape, from real recorded Gemini 3 answers (whole and
streamed, tests/dialects/recorded/README.md), and back again when a client replays the history;
server tools declared the dialect's way switch on Gemini's built-in tools."""

from __future__ import annotations

from typing import Any

import pytest
from anthropic.types import Message as AnthropicMessage
from openai.types.responses import Response

from gemini_gateway.dialects.anthropic_messages import parse_messages_request
from gemini_gateway.dialects.code_execution import CONTAINER_ID
from gemini_gateway.dialects.common import decode_call_id
from gemini_gateway.dialects.openai_responses import parse_responses_request
from tests.dialects.conftest import Validate
from tests.dialects.test_recorded_answers import (
    SSEEvents,
    chat,
    messages,
    messages_stream,
    recorded,
    responses,
    responses_stream,
)


def code_runs(answer: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any], str | None]]:
    """(executableCode, codeExecutionResult, signature of the code part), read off the recording."""
    parts = [p for event in _events(answer) for p in event["candidates"][0]["content"]["parts"]]
    codes = [p for p in parts if "executableCode" in p]
    results = [p["codeExecutionResult"] for p in parts if "codeExecutionResult" in p]
    return [(c["executableCode"], r, c.get("thoughtSignature")) for c, r in zip(codes, results, strict=True)]


def _events(answer: Any) -> list[dict[str, Any]]:
    return answer if isinstance(answer, list) else [answer]


WHOLE = recorded("code_execution.json")
STREAM = recorded("code_execution_stream.json")


def test_responses_code_interpreter_calls(openai_schema: Validate) -> None:
    body = responses(WHOLE)
    openai_schema("Response", body)
    parsed = Response.model_validate(body)
    runs = code_runs(WHOLE)
    calls = [item for item in parsed.output if item.type == "code_interpreter_call"]
    assert [item.type for item in parsed.output] == [
        "code_interpreter_call",
        "code_interpreter_call",
        "message",
    ]
    for call, (code, result, signature) in zip(calls, runs, strict=True):
        assert call.code == code["code"] and call.status == "completed" and call.container_id == CONTAINER_ID
        assert [(o.type, getattr(o, "logs", None)) for o in call.outputs or ()] == [
            ("logs", result["output"])
        ]
        ref = decode_call_id(call.id)
        assert ref is not None and (ref.gemini_id, ref.signature) == (code["id"], signature)
    assert parsed.output_text.startswith("Today is **Thursday")  # no fenced markdown in the text
    assert "```" not in parsed.output_text


def test_responses_stream_code_interpreter_events(sse_events: SSEEvents) -> None:
    out = responses_stream(STREAM, sse_events)
    names = [name for name, _ in out]
    ((code, result, _),) = code_runs(STREAM)
    assert names[2:10] == [
        "response.output_item.added",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call_code.delta",
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
        "response.output_item.done",
        "response.output_item.added",  # the message
    ]
    done = [p["item"] for n, p in out if n == "response.output_item.done"]
    assert done[0]["code"] == code["code"]
    assert done[0]["outputs"] == [{"type": "logs", "logs": result["output"]}]
    final = Response.model_validate(out[-1][1]["response"])
    assert [item.type for item in final.output] == ["code_interpreter_call", "message"]
    assert "```" not in final.output_text and final.output_text.startswith("The result of")


def test_anthropic_server_tool_use_and_result_blocks() -> None:
    body = messages(WHOLE)
    parsed = AnthropicMessage.model_validate(body)
    kinds = [block.type for block in parsed.content]
    assert kinds == ["server_tool_use", "code_execution_tool_result"] * 2 + ["text"]
    for (use, result_block), (code, result, signature) in zip(
        zip(parsed.content[0:4:2], parsed.content[1:4:2], strict=True), code_runs(WHOLE), strict=True
    ):
        assert use.type == "server_tool_use" and result_block.type == "code_execution_tool_result"
        assert use.name == "code_execution" and use.input == {"code": code["code"]}
        assert result_block.tool_use_id == use.id
        assert result_block.content.type == "code_execution_result"
        assert (result_block.content.stdout, result_block.content.return_code) == (result["output"], 0)
        ref = decode_call_id(use.id)
        assert ref is not None and (ref.gemini_id, ref.signature) == (code["id"], signature)
    assert parsed.stop_reason == "end_turn"


def test_anthropic_stream_code_blocks(sse_events: SSEEvents) -> None:
    out = messages_stream(STREAM, sse_events)
    starts = [p["content_block"] for n, p in out if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["server_tool_use", "code_execution_tool_result", "text"]
    ((code, result, _),) = code_runs(STREAM)
    deltas = [p["delta"] for n, p in out if n == "content_block_delta" and p["index"] == 0]
    assert deltas == [{"type": "input_json_delta", "partial_json": f'{{"code":{_json(code["code"])}}}'}]
    assert starts[1]["tool_use_id"] == starts[0]["id"]
    assert starts[1]["content"]["stdout"] == result["output"]


def _json(text: str) -> str:
    import orjson

    return orjson.dumps(text).decode()


def test_chat_keeps_fenced_markdown() -> None:
    text = chat(WHOLE)["choices"][0]["message"]["content"]
    (code, result, _), _second = code_runs(WHOLE)
    assert f"```python\n{code['code']}\n```" in text and f"```output\n{result['output']}\n```" in text


def test_failed_and_timed_out_runs_and_images() -> None:
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"executableCode": {"language": "PYTHON", "code": "1/0"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_FAILED", "output": "ZeroDivisionError"}},
                        {"executableCode": {"language": "PYTHON", "code": "plot()"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_OK"}},
                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                        {"executableCode": {"language": "PYTHON", "code": "while True: pass"}},
                        {"codeExecutionResult": {"outcome": "OUTCOME_DEADLINE_EXCEEDED"}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    calls = responses(answer)["output"]
    assert [(c["status"], c["outputs"]) for c in calls] == [
        ("failed", [{"type": "logs", "logs": "ZeroDivisionError"}]),
        ("completed", [{"type": "image", "url": "data:image/png;base64,iVBORw0KGgo="}]),
        ("incomplete", []),
    ]
    blocks = [b for b in messages(answer)["content"] if b["type"] == "code_execution_tool_result"]
    assert blocks[0]["content"] == {
        "type": "code_execution_result",
        "stdout": "",
        "stderr": "ZeroDivisionError",
        "return_code": 1,
        "content": [],
    }
    assert blocks[2]["content"] == {
        "type": "code_execution_tool_result_error",
        "error_code": "execution_time_exceeded",
    }
    # (Image blocks in an answer are the gateway's own extension, outside the SDK's answer union.)
    parts = answer["candidates"][0]["content"]["parts"]
    parts.remove(parts[4])
    AnthropicMessage.model_validate(messages(answer))


def test_replayed_code_comes_back_as_gemini_parts_with_ids_and_signatures() -> None:
    runs = code_runs(WHOLE)
    expected = [
        part
        for code, result, signature in runs
        for part in ({"executableCode": code, "thoughtSignature": signature}, {"codeExecutionResult": result})
    ]
    # Responses: the output items, sent back as input (what a stateless client does).
    output = responses(WHOLE)["output"]
    call = parse_responses_request(
        {"model": "gemini-3-flash-preview", "input": [{"role": "user", "content": "q"}, *output]}
    )
    model_parts = call.request["contents"][1]["parts"]
    assert model_parts[:4] == expected
    # Anthropic: the assistant's blocks unchanged.
    content = messages(WHOLE)["content"]
    body = {
        "model": "gemini-3-flash-preview",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}],
    }
    assert parse_messages_request(body).request["contents"][1]["parts"][:4] == expected


@pytest.mark.parametrize(
    ("model", "sent", "dropped"),
    [
        (
            "gemini-3-flash-preview",
            ["functionDeclarations", "googleSearch", "urlContext", "codeExecution"],
            [],
        ),
        ("gemini-2.5-flash", ["functionDeclarations"], ["googleSearch", "urlContext", "codeExecution"]),
    ],
)
def test_anthropic_server_tools_become_gemini_built_in_tools(
    model: str, sent: list[str], dropped: list[str]
) -> None:
    body = {
        "model": model,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "q"}],
        "tools": [
            {"name": "lookup", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            {"type": "web_fetch_20250910", "name": "web_fetch"},
            {"type": "code_execution_20250825", "name": "code_execution"},
        ],
    }
    call = parse_messages_request(body)
    assert [next(iter(tool)) for tool in call.request["tools"]] == sent
    assert call.dropped_tools == dropped
    alone = parse_messages_request({**body, "model": "gemini-2.5-flash", "tools": body["tools"][1:]})
    assert alone.request["tools"] == [{"googleSearch": {}}, {"urlContext": {}}, {"codeExecution": {}}]


@pytest.mark.parametrize(
    ("model", "dropped"), [("gemini-3-pro-preview", []), ("gemini-2.5-pro", ["codeExecution"])]
)
def test_responses_code_interpreter_becomes_code_execution(model: str, dropped: list[str]) -> None:
    tools = [{"type": "code_interpreter", "container": {"type": "auto"}}]
    alone = parse_responses_request({"model": model, "input": "q", "tools": tools})
    assert alone.request["tools"] == [{"codeExecution": {}}] and alone.dropped_tools == []
    function = {"type": "function", "name": "f", "parameters": {"type": "object"}}
    mixed = parse_responses_request({"model": model, "input": "q", "tools": [*tools, function]})
    assert ("codeExecution" in str(mixed.request["tools"])) is not bool(dropped)
    assert mixed.dropped_tools == dropped


def test_suffixes_switch_url_context_and_code_execution() -> None:
    call = parse_responses_request(
        {"model": "gemini-2.5-flash-codeexecution-urlcontext-search", "input": "q"}
    )
    assert call.model == "gemini-2.5-flash"
    assert call.request["tools"] == [{"codeExecution": {}}, {"urlContext": {}}, {"googleSearch": {}}]
