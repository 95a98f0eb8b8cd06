"""Gemini stream events -> OpenAI `chat.completion.chunk` SSE bytes.

Gemini sends each event with only the new parts, and every functionCall whole, so one Gemini event
becomes at most one chunk per choice: role (first time), reasoning, text, images and complete tool
calls together, with the finish reason on the chunk of the event that carried it. Grounding arrives
with the last events and measures the whole text, so the text is kept per choice and the citations
ride as `delta.annotations` on that chunk; a block message rides as `delta.refusal`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from gemini_gateway.dialects.common import (
    JSON,
    SSE_DONE,
    Ending,
    Usage,
    candidate_ending,
    candidates_of,
    finish_kind,
    inline_image,
    parts_of,
    prompt_ending,
    sse_data,
    visible_text,
)
from gemini_gateway.dialects.grounding import citations
from gemini_gateway.dialects.openai_chat import (
    ChatCall,
    chat_logprobs,
    image_url,
    openai_usage,
    tool_call_of,
    url_annotation,
    with_ending,
)
from gemini_gateway.dialects.openai_errors import openai_error_object
from gemini_gateway.errors import GatewayError

# A part of these keys only is text and nothing else: the signature is not sent (see `_candidate`).
_TEXT_PART_KEYS = frozenset({"text", "thoughtSignature"})
_MARK = "\ue000text\ue000"  # what the text template is cut around (after every client string)
_MARK_JSON = orjson.dumps(_MARK)


@dataclass(slots=True)
class _Choice:
    started: bool = False
    calls: int = 0
    finished: bool = False
    text: list[str] = field(default_factory=list)  # all content so far, for placing citations
    cited: set[tuple[int, int, int]] = field(default_factory=set)  # (source, start, end) sent


class ChatStreamTranslator:
    """Feed decoded Gemini events in order; send every returned bytes object as is."""

    __slots__ = ("_choices", "_head", "_logprobs", "_text_head", "_text_tail", "_usage_event", "_with_usage")

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
        self._usage_event: JSON | None = None  # the last event with usage (cumulative: it wins)
        # Most events of an answer are one more piece of text for the first choice: their chunk is
        # this stream's same bytes around the text, rendered here once by `_chunk` itself.
        sample = self._chunk(0, {"content": _MARK}, None)
        self._text_head, _, self._text_tail = sample.rpartition(_MARK_JSON)

    def feed(self, event: JSON) -> list[bytes]:
        if "usageMetadata" in event:
            self._usage_event = event
        found = event.get("candidates")
        if type(found) is list and len(found) == 1 and type(found[0]) is dict:
            text = self._more_text(found[0])
            if text is not None:
                return [self._text_head + orjson.dumps(text) + self._text_tail] if text else []
        candidates = candidates_of(event)
        if not candidates and (blocked := prompt_ending(event)) is not None:
            return [self._chunk(0, self._open(0, {}), blocked.kind, ending=blocked)]
        out = []
        for position, candidate in enumerate(candidates):
            chunk = self._candidate(candidate.get("index", position), candidate)
            if chunk is not None:
                out.append(chunk)
        return out

    def _more_text(self, candidate: JSON) -> str | None:
        """The text of a candidate that only continues the first choice's text (no finish, no
        grounding, no logprobs asked, text parts only), noted for citations; None for any other
        candidate, which `_candidate` translates. What `_candidate` would send for it is exactly
        the text template around this text (nothing, for no text)."""
        index = candidate.get("index", 0)
        choice = self._choices.get(0)
        if (
            type(index) is not int
            or index
            or choice is None
            or not choice.started
            or self._logprobs
            or candidate.get("finishReason")
            or candidate.get("groundingMetadata")
        ):
            return None
        content = candidate.get("content")
        parts = content.get("parts") if type(content) is dict else None
        if type(parts) is not list:
            return None
        texts = []
        for part in parts:
            if type(part) is not dict or not part.keys() <= _TEXT_PART_KEYS:
                return None
            text = part.get("text")
            if text:
                if type(text) is not str:
                    return None
                texts.append(text)
        text = "".join(texts)
        if text:
            choice.text.append(text)
        return text

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
            usage = Usage() if self._usage_event is None else Usage.of(self._usage_event)
            out.append(sse_data({**self._head, "choices": [], "usage": openai_usage(usage)}))
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
        images: list[JSON] = []
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
            elif (image := inline_image(part)) is not None:
                images.append(image_url(image))
        delta: JSON = {}
        if thoughts and (thought := "".join(thoughts)):
            delta["reasoning_content"] = thought
        if texts:
            delta["content"] = "".join(texts)
            choice.text.append(delta["content"])
        if calls:
            delta["tool_calls"] = calls
        if images:
            delta["images"] = images
        if annotations := _new_citations(choice, candidate):
            delta["annotations"] = annotations
        ending = candidate_ending(candidate, choice.calls > 0) if candidate.get("finishReason") else None
        if not delta and ending is None and choice.started:
            return None  # e.g. an empty text part that only carried a signature
        choice.finished = choice.finished or ending is not None
        logprobs = chat_logprobs(candidate) if self._logprobs else None
        finish = ending.kind if ending else None
        return self._chunk(index, self._open(index, delta), finish, logprobs, ending)

    def _open(self, index: int, delta: JSON) -> JSON:
        """The first chunk of a choice announces the role."""
        choice = self._choices.setdefault(index, _Choice())
        if choice.started:
            return delta
        choice.started = True
        if "content" not in delta and "tool_calls" not in delta:
            delta["content"] = ""
        return {"role": "assistant", **delta}

    def _chunk(
        self,
        index: int,
        delta: JSON,
        finish: str | None,
        logprobs: JSON | None = None,
        ending: Ending | None = None,
    ) -> bytes:
        if finish is not None:
            self._choices.setdefault(index, _Choice()).finished = True
        choice: JSON = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        if ending is not None:
            with_ending(choice, delta, ending)
            if "content" in delta and delta["content"] is None:
                del delta["content"]  # a delta leaves out what it does not change
        chunk: JSON = {**self._head, "choices": [choice]}
        if self._with_usage:
            chunk["usage"] = None
        return sse_data(chunk)


def _new_citations(choice: _Choice, candidate: JSON) -> list[JSON]:
    """Citations not sent yet (grounding may repeat on later events), placed in the text so far."""
    if not candidate.get("groundingMetadata"):
        return []
    found = []
    for citation in citations(candidate, "".join(choice.text)):
        key = (citation.source, citation.start, citation.end)
        if key not in choice.cited:
            choice.cited.add(key)
            found.append(url_annotation(citation))
    return found


def error_event(exc: GatewayError) -> bytes:
    return sse_data({"error": openai_error_object(exc)})
