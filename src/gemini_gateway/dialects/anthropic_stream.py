"""Gemini stream events -> Anthropic Messages SSE (`event: <name>\\ndata: {...}\\n\\n`).

Blocks are strictly sequential: a change of part kind stops the open block. A thinking block is
closed by the first non-thought part, whose `thoughtSignature` (Gemini signs the part after the
thoughts) becomes the `signature_delta` sent just before `content_block_stop`.
"""

from __future__ import annotations

from gemini_gateway.dialects.anthropic_content import thinking_signature
from gemini_gateway.dialects.anthropic_errors import anthropic_error_object
from gemini_gateway.dialects.anthropic_messages import (
    STOP_REASONS,
    MessagesCall,
    anthropic_usage,
    tool_use_block,
)
from gemini_gateway.dialects.common import (
    JSON,
    Usage,
    blocked_reason,
    candidates_of,
    finish_kind,
    json_text,
    parts_of,
    sse_event,
    visible_text,
)
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
        self._reason: str | None = None
        self._blocked = False
        self._usage = Usage()

    def feed(self, event: JSON) -> list[bytes]:
        if "usageMetadata" in event:
            self._usage = Usage.of(event)
        out = self._start()
        candidates = candidates_of(event)
        if not candidates and blocked_reason(event):
            self._blocked = True
        candidate = candidates[0] if candidates else {}
        for part in parts_of(candidate):
            out += self._part(part)
        if candidate.get("finishReason"):
            self._reason = candidate["finishReason"]
        return out

    def finish(self) -> list[bytes]:
        out = self._start()
        out += self._stop()
        if self._blocked and self._reason is None:
            stop = "refusal"
        else:
            stop = STOP_REASONS[finish_kind(self._reason, self._has_calls)]
        usage = anthropic_usage(self._usage)
        out.append(
            sse_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": usage,
                },
            )
        )
        out.append(sse_event("message_stop", {"type": "message_stop"}))
        return out

    @staticmethod
    def error_event(exc: GatewayError) -> bytes:
        return sse_event("error", {"type": "error", "error": anthropic_error_object(exc)})

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        usage = anthropic_usage(self._usage)
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
        text = visible_text(part)
        if not text:
            return []  # e.g. an empty part that only carried a signature
        out = [] if self._open == "text" else self._stop() + self._begin("text")
        return [*out, self._delta({"type": "text_delta", "text": text})]

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
