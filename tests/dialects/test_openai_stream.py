"""Gemini stream events -> OpenAI chat.completion.chunk SSE."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from gemini_gateway.dialects.common import decode_call_id
from gemini_gateway.dialects.openai_chat import parse_chat_request
from gemini_gateway.dialects.openai_stream import ChatStreamTranslator, error_event
from gemini_gateway.errors import NoCredentialAvailable, UpstreamError

SIG = "EqQBCkgIARABGAIiQM+/6Q=="

Validate = Callable[[str, Any], None]  # the `openai_schema` fixture


def translator(**fields: Any) -> ChatStreamTranslator:
    body = {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        **fields,
    }
    return ChatStreamTranslator(parse_chat_request(body), "chatcmpl-s", 1700000000)


def event(
    *parts: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r"}
    if usage:
        out["usageMetadata"] = usage
    return out


def run(t: ChatStreamTranslator, events: list[dict[str, Any]]) -> list[bytes]:
    frames: list[bytes] = []
    for e in events:
        frames.extend(t.feed(e))
    return frames + t.finish()


def test_text_stream_sequence(sse_payloads: Any, openai_schema: Validate) -> None:
    frames = run(
        translator(stream_options={"include_usage": True}),
        [
            event({"text": "Let me see", "thought": True}),
            event({"text": "Hel"}),
            event(
                {"text": "lo"},
                finish="STOP",
                usage={
                    "promptTokenCount": 5,
                    "candidatesTokenCount": 2,
                    "thoughtsTokenCount": 3,
                    "totalTokenCount": 10,
                },
            ),
        ],
    )
    payloads = sse_payloads(frames)
    assert payloads[-1] == "[DONE]"
    chunks = payloads[:-1]
    for chunk in chunks:
        openai_schema("CreateChatCompletionStreamResponse", chunk)
        assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
            "chatcmpl-s",
            "chat.completion.chunk",
            1700000000,
            "gemini-2.5-flash",
        )
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks[:-1]]
    assert deltas == [
        ({"role": "assistant", "reasoning_content": "Let me see", "content": ""}, None),
        ({"content": "Hel"}, None),
        ({"content": "lo"}, "stop"),
    ]
    assert all(c["usage"] is None for c in chunks[:-1])  # include_usage: null until the last chunk
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 5,
        "total_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 3},
    }


def test_without_include_usage_there_is_no_usage_chunk(sse_payloads: Any) -> None:
    payloads = sse_payloads(
        run(translator(), [event({"text": "x"}, finish="STOP", usage={"promptTokenCount": 1})])
    )
    assert len(payloads) == 2 and payloads[-1] == "[DONE]"
    assert "usage" not in payloads[0]


def test_tool_call_stream_and_signature_round_trip(sse_payloads: Any, openai_schema: Validate) -> None:
    frames = run(
        translator(),
        [
            event({"text": "Thinking", "thought": True}),
            event(
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": SIG},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                finish="STOP",
            ),
        ],
    )
    chunks = sse_payloads(frames)[:-1]
    for chunk in chunks:
        openai_schema("CreateChatCompletionStreamResponse", chunk)
    delta = chunks[1]["choices"][0]["delta"]
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    calls = delta["tool_calls"]
    assert [c["index"] for c in calls] == [0, 1]
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        {"name": "get_weather", "arguments": '{"city":"Rome"}'},
    ]
    assert all(c["type"] == "function" for c in calls)
    # The client accumulates the deltas and sends the calls back: the signature must come back too.
    history = [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{k: c[k] for k in ("id", "type", "function")} for c in calls],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "25C"},
    ]
    request = parse_chat_request({"model": "gemini-2.5-flash", "messages": history}).request
    assert request["contents"][1]["parts"][0]["thoughtSignature"] == SIG
    assert "thoughtSignature" not in request["contents"][1]["parts"][1]
    assert [p["functionResponse"]["name"] for p in request["contents"][2]["parts"]] == ["get_weather"] * 2


def test_tool_call_ids_are_distinct_across_events(sse_payloads: Any) -> None:
    t = translator()
    chunks = sse_payloads(
        run(
            t,
            [
                event({"functionCall": {"name": "a", "args": {}}}),
                event({"functionCall": {"name": "b", "args": {}}}, finish="STOP"),
            ],
        )
    )[:-1]
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    second = chunks[1]["choices"][0]["delta"]["tool_calls"][0]
    assert (first["index"], second["index"]) == (0, 1)
    assert first["id"] != second["id"] and decode_call_id(first["id"]) is not None


def test_signature_only_part_emits_nothing_after_start(sse_payloads: Any) -> None:
    t = translator()
    t.feed(event({"text": "Hi"}))
    # Gemini 3 can end with an empty text part carrying only the signature.
    assert t.feed(event({"text": "", "thoughtSignature": SIG})) == []
    chunks = sse_payloads(t.finish())
    assert chunks[0]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


@pytest.mark.parametrize(
    ("reason", "mapped"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")],
)
def test_finish_reasons(sse_payloads: Any, reason: str, mapped: str) -> None:
    chunks = sse_payloads(run(translator(), [event({"text": "x"}, finish=reason)]))
    assert chunks[0]["choices"][0]["finish_reason"] == mapped
    assert chunks[1] == "[DONE]"


def test_blocked_prompt(sse_payloads: Any, openai_schema: Validate) -> None:
    chunks = sse_payloads(run(translator(), [{"promptFeedback": {"blockReason": "SAFETY"}}]))
    openai_schema("CreateChatCompletionStreamResponse", chunks[0])
    why = "Gemini refused the prompt (blockReason SAFETY)."
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "refusal": why}
    assert chunks[0]["choices"][0]["finish_reason"] == "content_filter"
    assert chunks[1:] == ["[DONE]"]


def test_empty_upstream_stream_still_terminates(sse_payloads: Any) -> None:
    chunks = sse_payloads(run(translator(), []))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["choices"][0]["finish_reason"] == "stop"
    assert chunks[1] == "[DONE]"


def test_multiple_candidates_stream_per_choice(sse_payloads: Any) -> None:
    t = translator(n=2)
    frames = t.feed(
        {
            "candidates": [
                {"content": {"parts": [{"text": "A"}]}},
                {"content": {"parts": [{"text": "B"}]}, "index": 1},
            ]
        }
    )
    frames += t.feed(
        {"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 1}]}
    )
    frames += t.finish()
    chunks = sse_payloads(frames)[:-1]
    seen = [
        (c["choices"][0]["index"], c["choices"][0]["delta"].get("content"), c["choices"][0]["finish_reason"])
        for c in chunks
    ]
    assert seen == [(0, "A", None), (1, "B", None), (1, "!", "stop"), (0, None, "stop")]


def test_error_event_carries_upstream_message(sse_payloads: Any) -> None:
    exc = UpstreamError(
        503, b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'
    )
    payload = sse_payloads([error_event(exc)])[0]
    assert payload == {
        "error": {
            "message": "The model is overloaded.",
            "type": "api_error",
            "param": None,
            "code": "service_unavailable",
        }
    }
    rate = sse_payloads(
        [ChatStreamTranslator.error_event(NoCredentialAvailable("all cooling", retry_after=3))]
    )[0]
    assert rate["error"]["type"] == "rate_limit_error"


def test_translation_cost_is_tiny() -> None:
    t = translator(stream_options={"include_usage": True})
    e = event(
        {"text": "token " * 5},
        usage={"promptTokenCount": 100, "candidatesTokenCount": 10, "totalTokenCount": 110},
    )
    # The fastest of a few batches: a busy machine's pauses land in some batches, not in all.
    rounds, per_event_ms = 250, float("inf")
    for _ in range(8):
        start = time.perf_counter()
        for _ in range(rounds):
            t.feed(e)
        per_event_ms = min(per_event_ms, (time.perf_counter() - start) * 1000 / rounds)
    assert per_event_ms < 0.1, per_event_ms  # generous bound; typically ~10 µs


class _GeneralOnly(ChatStreamTranslator):
    """The translator without its text template: the reference its fast path must agree with."""

    __slots__ = ()

    def _more_text(self, candidate: dict[str, Any]) -> str | None:
        return None


GENERAL_SHAPES: list[list[dict[str, Any]]] = [
    [event({"text": "a"}), event({"text": ' "quoted" \\ \n ünï 😀'}), event({"text": "z"}, finish="STOP")],
    [event({"text": "a"}), event({"text": ""}), event({"text": "b", "thoughtSignature": SIG}), event()],
    [event({"text": "a"}), event({"text": "b"}, {"text": "c"}), event({"text": "d", "thought": True})],
    [event({"text": "a"}), event({"text": "b"}, {"functionCall": {"name": "f", "args": {}}})],
    [
        event({"text": "a"}),
        event({"text": 5}),
        event({"inlineData": {"mimeType": "image/png", "data": "AA"}}),
    ],
    [event({"text": "a"}), {"candidates": [{"content": {"parts": [{"text": "b"}]}, "index": 1}]}],
    [event({"text": "a"}), {"candidates": [{"content": {"parts": [{"text": "b"}]}}]}, {"candidates": []}],
    [event({"text": "a"}), {"candidates": [{"content": {"parts": "no list"}, "index": 0}]}],
    [event({"text": "a"}, usage={"promptTokenCount": 3}), event({"text": "b"}, usage={"totalTokenCount": 9})],
]


@pytest.mark.parametrize("shape", range(len(GENERAL_SHAPES)))
@pytest.mark.parametrize("fields", [{}, {"stream_options": {"include_usage": True}}, {"logprobs": True}])
def test_text_template_agrees_with_the_general_translation(shape: int, fields: dict[str, Any]) -> None:
    events = GENERAL_SHAPES[shape]
    # A client model name with what JSON escapes and what the template is cut around.
    fields = {**fields, "model": 'gemini-2.5-flash"\ue000text\ue000'}
    fast = _same_ids(run(translator(**fields), events))
    assert fast == _same_ids(run(_GeneralOnly(*_args(fields)), events))
    assert len(fast) > 2


def _same_ids(frames: list[bytes]) -> list[bytes]:
    """Tool call ids are new each time."""
    return [re.sub(rb'"call_[^"]*"', b'"call"', frame) for frame in frames]


def _args(fields: dict[str, Any]) -> tuple[Any, str, int]:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, **fields}
    return parse_chat_request(body), "chatcmpl-s", 1700000000
