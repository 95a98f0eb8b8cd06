"""Gemini stream events -> Anthropic Messages SSE (`event: <name>\\ndata: {...}\\n\\n`).

Blocks are strictly sequential: a change of part kind stops the open block. A thinking block is
closed by the first non-thought part, whose `thoughtSignature` (Gemini signs the part after the
thoughts) becomes the `signature_delta` sent just before `content_block_stop`. Grounding comes
with the last events and measures the whole text; its citations are sent as `citations_delta`s on
the open text block (or a new empty one). A block message goes in `message_delta.stop_details`,
and as the text of an answer that would otherwise be empty. Code the model ran is a whole
`server_tool_use` block, its result a whole `code_execution_tool_result` block.
"""

from __future__ import annotations

from gemini_gateway.dialects.anthropic_content import thinking_signature
from gemini_gateway.dialects.anthropic_errors import anthropic_error_object
from gemini_gateway.dialects.anthropic_messages import (
    STOP_REASONS,
    MessagesCall,
    anthropic_usage,
    image_block,
    server_tool_counts,
    stop_details,
    tool_use_block,
    web_citation,
)
from gemini_gateway.dialects.code_execution import answers, code_of, result_block, result_of, server_tool_use
from gemini_gateway.dialects.common import (
    JSON,
    Ending,
    Usage,
    candidate_ending,
    candidates_of,
    finish_kind,
    inline_image,
    json_text,
    parts_of,
    prompt_ending,
    sse_event,
    visible_text,
)
from gemini_gateway.dialects.grounding import citations
from gemini_gateway.errors import GatewayError


class MessagesStreamTranslator:
    """Feed decoded Gemini events in order, then `finish()`; send every bytes object as is."""

    def __init__(self, call: MessagesCall, message_id: str) -> None:
        self._call = call
        self._id = message_id
        self._started = False
        self._index = -1  # index of the open (or last) content block
        self._open: str | None = None  # "thinking" | "text" while a block is open
        self._signature: str | None = None  # for the open thinking block
        self._has_calls = False
        self._ending: Ending | None = None  # set by a finishReason or a prompt block
        self._text: list[str] = []  # all text sent, for placing citations
        self._cited: set[tuple[int, int, int]] = set()  # (source, start, end) sent
        self._usage_event: JSON | None = None  # the last event with usage (cumulative: it wins)
        self._server_tools = (0, 0)  # (web searches, web fetches) the grounding reported
        self._code_id: str | None = None  # the server_tool_use block waiting for its result

    def _usage_so_far(self) -> Usage:
        return Usage() if self._usage_event is None else Usage.of(self._usage_event)

    def feed(self, event: JSON) -> list[bytes]:
        if "usageMetadata" in event:
            self._usage_event = event  # read when sent: not once per event
        out = self._start()
        candidates = candidates_of(event)
        if not candidates and (blocked := prompt_ending(event)) is not None:
            self._ending = blocked
        candidate = candidates[0] if candidates else {}
        for part in parts_of(candidate):
            out += self._part(part)
        if candidate.get("groundingMetadata"):
            out += self._citations(candidate)
        counts = server_tool_counts(candidate)  # grounding may come on any event: keep the most
        self._server_tools = (max(self._server_tools[0], counts[0]), max(self._server_tools[1], counts[1]))
        if candidate.get("finishReason"):
            self._ending = candidate_ending(candidate, self._has_calls)
        return out

    def finish(self) -> list[bytes]:
        out = self._start()
        ending = self._ending or Ending(finish_kind(None, self._has_calls))
        if ending.message is not None and self._index < 0:
            # never an empty answer
            out += [*self._begin("text"), self._delta({"type": "text_delta", "text": ending.message})]
        out += self._stop()
        delta: JSON = {"stop_reason": STOP_REASONS[ending.kind], "stop_sequence": None}
        if (details := stop_details(ending)) is not None:
            delta["stop_details"] = details
        usage = anthropic_usage(self._usage_so_far(), self._server_tools)
        out.append(sse_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return out

    def _citations(self, candidate: JSON) -> list[bytes]:
        text = "".join(self._text)
        out: list[bytes] = []
        for citation in citations(candidate, text):
            key = (citation.source, citation.start, citation.end)
            if key in self._cited:
                continue
            self._cited.add(key)
            if self._open != "text":
                out += self._stop() + self._begin("text")
            cited = web_citation(citation, text[citation.start : citation.end])
            out.append(self._delta({"type": "citations_delta", "citation": cited}))
        return out

    @staticmethod
    def error_event(exc: GatewayError) -> bytes:
        return sse_event("error", {"type": "error", "error": anthropic_error_object(exc)})

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        usage = anthropic_usage(self._usage_so_far())
        message: JSON = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._call.client_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": 0},
        }
        return [sse_event("message_start", {"type": "message_start", "message": message})]

    def _part(self, part: JSON) -> list[bytes]:
        signature: str | None = part.get("thoughtSignature")
        if code_of(part) is not None or result_of(part) is not None:  # also run while thinking
            if self._open == "thinking" and signature and not self._signature:
                self._signature = signature
            return self._code(part)
        if part.get("thought") is True:
            out = [] if self._open == "thinking" else self._stop() + self._begin("thinking")
            if signature:
                self._signature = signature
            thought = str(part.get("text", ""))
            return out + ([self._delta({"type": "thinking_delta", "thinking": thought})] if thought else [])
        if self._open == "thinking" and signature and not self._signature:
            self._signature = signature
        if "functionCall" in part:
            self._has_calls = True
            block = tool_use_block(part)
            arguments = json_text(block["input"])
            return [
                *self._stop(),
                *self._begin("tool_use", {**block, "input": {}}),
                self._delta({"type": "input_json_delta", "partial_json": arguments}),
                *self._stop(),
            ]
        if (image := inline_image(part)) is not None:
            return [*self._stop(), *self._begin("image", image_block(image)), *self._stop()]
        text = visible_text(part)
        if not text:
            return []  # e.g. an empty part that only carried a signature
        self._text.append(text)
        out = [] if self._open == "text" else self._stop() + self._begin("text")
        return [*out, self._delta({"type": "text_delta", "text": text})]

    def _code(self, part: JSON) -> list[bytes]:
        """Code as a whole `server_tool_use` block (its input in one delta, as for tool_use), its
        result as a whole `code_execution_tool_result` block."""
        out: list[bytes] = []
        result = result_of(part)
        if result is None or self._code_id is None or not answers(self._code_id, result):
            block = server_tool_use(part if result is None else {})  # {}: a result without its code
            self._code_id = block["id"]
            out += [
                *self._stop(),
                *self._begin("server_tool_use", {**block, "input": {}}),
                self._delta({"type": "input_json_delta", "partial_json": json_text(block["input"])}),
                *self._stop(),
            ]
        if result is not None:
            block = result_block(self._code_id, result)
            self._code_id = None
            out += [*self._stop(), *self._begin("code_execution_tool_result", block), *self._stop()]
        return out

    def _begin(self, kind: str, block: JSON | None = None) -> list[bytes]:
        self._index += 1
        self._open = kind
        if block is None:
            block = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": kind, "text": ""}
            )
        payload = {"type": "content_block_start", "index": self._index, "content_block": block}
        return [sse_event("content_block_start", payload)]

    def _stop(self) -> list[bytes]:
        if self._open is None:
            return []
        out = []
        if self._open == "thinking" and self._signature:
            out.append(
                self._delta({"type": "signature_delta", "signature": thinking_signature(self._signature)})
            )
        self._open, self._signature = None, None
        out.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": self._index}))
        return out

    def _delta(self, delta: JSON) -> bytes:
        payload = {"type": "content_block_delta", "index": self._index, "delta": delta}
        return sse_event("content_block_delta", payload)
