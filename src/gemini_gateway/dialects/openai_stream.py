"""Gemini stream events -> OpenAI `chat.completion.chunk` SSE bytes.

Gemini sends each event with only the new parts, and every functionCall whole, so one Gemini event
becomes at most one chunk per choice: role (first time), reasoning, text and complete tool calls
together, with the finish reason on the chunk of the event that carried it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gemini_gateway.dialects.common import (
    JSON,
    SSE_DONE,
    Usage,
    blocked_reason,
    candidates_of,
    finish_kind,
    parts_of,
    sse_data,
    visible_text,
)
from gemini_gateway.dialects.openai_chat import ChatCall, chat_logprobs, openai_usage, tool_call_of
from gemini_gateway.dialects.openai_errors import openai_error_object
from gemini_gateway.errors import GatewayError


@dataclass(slots=True)
class _Choice:
    started: bool = False
    calls: int = 0
    finished: bool = False


class ChatStreamTranslator:
    """Feed decoded Gemini events in order; send every returned bytes object as is."""

    __slots__ = ("_choices", "_head", "_logprobs", "_usage", "_with_usage")

    def __init__(self, call: ChatCall, response_id: str, created: int) -> None:
        self._head: JSON = {
            "id": response_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": call.client_model,
        }
        self._with_usage = call.include_usage
        self._logprobs = call.logprobs
        self._choices: dict[int, _Choice] = {}
        self._usage = Usage()

    def feed(self, event: JSON) -> list[bytes]:
        if "usageMetadata" in event:
            self._usage = Usage.of(event)  # cumulative: the last one wins
        candidates = candidates_of(event)
        if not candidates and blocked_reason(event):
            return [self._chunk(0, self._open(0, {}), "content_filter")]
        out = []
        for position, candidate in enumerate(candidates):
            chunk = self._candidate(candidate.get("index", position), candidate)
            if chunk is not None:
                out.append(chunk)
        return out

    def finish(self) -> list[bytes]:
        """Close choices the upstream left open, then the usage chunk and `[DONE]`."""
        if not self._choices:
            self._choices[0] = _Choice()
        out = []
        for index, choice in sorted(self._choices.items()):
            if not choice.finished:
                delta = self._open(index, {})
                out.append(self._chunk(index, delta, finish_kind(None, choice.calls > 0)))
        if self._with_usage:
            out.append(sse_data({**self._head, "choices": [], "usage": openai_usage(self._usage)}))
        out.append(SSE_DONE)
        return out

    @staticmethod
    def error_event(exc: GatewayError) -> bytes:
        """What to send when the upstream fails after the stream has started (then close)."""
        return error_event(exc)

    def _candidate(self, index: int, candidate: JSON) -> bytes | None:
        choice = self._choices.get(index) or self._choices.setdefault(index, _Choice())
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[JSON] = []
        for part in parts_of(candidate):
            if "functionCall" in part:
                call = tool_call_of(part)
                call["index"] = choice.calls
                choice.calls += 1
                calls.append(call)
            elif part.get("thought") is True:
                thoughts.append(str(part.get("text", "")))
            elif text := visible_text(part):
                texts.append(text)
        delta: JSON = {}
        if thoughts and (thought := "".join(thoughts)):
            delta["reasoning_content"] = thought
        if texts:
            delta["content"] = "".join(texts)
        if calls:
            delta["tool_calls"] = calls
        reason = candidate.get("finishReason")
        finish = finish_kind(reason, choice.calls > 0) if reason else None
        if not delta and finish is None and choice.started:
            return None  # e.g. an empty text part that only carried a signature
        choice.finished = choice.finished or finish is not None
        logprobs = chat_logprobs(candidate) if self._logprobs else None
        return self._chunk(index, self._open(index, delta), finish, logprobs)

    def _open(self, index: int, delta: JSON) -> JSON:
        """The first chunk of a choice announces the role."""
        choice = self._choices.setdefault(index, _Choice())
        if choice.started:
            return delta
        choice.started = True
        if "content" not in delta and "tool_calls" not in delta:
            delta["content"] = ""
        return {"role": "assistant", **delta}

    def _chunk(self, index: int, delta: JSON, finish: str | None, logprobs: JSON | None = None) -> bytes:
        if finish is not None:
            self._choices.setdefault(index, _Choice()).finished = True
        chunk: JSON = {
            **self._head,
            "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}],
        }
        if self._with_usage:
            chunk["usage"] = None
        return sse_data(chunk)


def error_event(exc: GatewayError) -> bytes:
    return sse_data({"error": openai_error_object(exc)})
