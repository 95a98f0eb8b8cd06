"""Stream translation stays a few microseconds per event, also late in a long answer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gemini_gateway.dialects.anthropic_messages import parse_messages_request
from gemini_gateway.dialects.anthropic_stream import MessagesStreamTranslator
from gemini_gateway.dialects.openai_chat import parse_chat_request
from gemini_gateway.dialects.openai_responses import parse_responses_request
from gemini_gateway.dialects.openai_responses_stream import ResponsesStreamTranslator
from gemini_gateway.dialects.openai_stream import ChatStreamTranslator

EVENT = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "a few tokens of text "}]}, "index": 0}],
    "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 120},
}


def chat() -> Any:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "stream_options": {"include_usage": True},
    }
    return ChatStreamTranslator(parse_chat_request(body), "id", 1)


def responses() -> Any:
    return ResponsesStreamTranslator(parse_responses_request({"model": "m", "input": "x"}), "resp", 1)


def anthropic() -> Any:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    return MessagesStreamTranslator(parse_messages_request(body), "msg")


def _cost_ms(translator: Any, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        translator.feed(EVENT)
    return (time.perf_counter() - start) * 1000 / rounds


@pytest.mark.parametrize("make", [chat, responses, anthropic], ids=["chat", "responses", "anthropic"])
def test_per_event_cost_is_small_and_does_not_grow(make: Any) -> None:
    translator = make()
    early = _cost_ms(translator, 2000)
    for _ in range(30000):  # a long answer already streamed (~600 kB of text)
        translator.feed(EVENT)
    late = _cost_ms(translator, 2000)
    assert early < 0.1, f"{early:.4f} ms per event"  # typically ~0.005 ms
    assert late < 3 * early + 0.01, f"cost grew from {early:.4f} to {late:.4f} ms per event"
    assert translator.finish()
