"""Gemini stream events -> Responses API named SSE events.

One output item is open at a time: a reasoning item (thought parts), a message (text parts) or a
function call (complete on arrival, so opened and closed at once). A change of part kind closes the
open item. Every event carries a monotonically increasing `sequence_number`; there is no [DONE].
An image is an `image_generation_call` item, complete on arrival. Code the model ran is a
`code_interpreter_call` item opened with its code and closed by the next part of another kind,
so its result and the images the code drew arrive in it. Citations arrive with the last
events and are announced as `response.output_text.annotation.added` on the message they fall in;
a block message ends the output as a message with one refusal part.
"""

from __future__ import annotations

from typing import Any

from gemini_gateway.dialects.code_execution import (
    add_image,
    add_result,
    code_of,
    finished_call,
    interpreter_call,
    result_of,
    takes_result,
)
from gemini_gateway.dialects.common import (
    JSON,
    Ending,
    Usage,
    candidate_ending,
    candidates_of,
    finish_kind,
    inline_image,
    parts_of,
    prompt_ending,
    sse_event,
    visible_text,
)
from gemini_gateway.dialects.grounding import citations, split_by_segments
from gemini_gateway.dialects.openai_errors import openai_error_object
from gemini_gateway.dialects.openai_responses import (
    ResponsesCall,
    function_call_item,
    image_item,
    new_item,
    response_object,
    response_status,
    responses_usage,
    url_citation,
)
from gemini_gateway.errors import GatewayError


class ResponsesStreamTranslator:
    """Feed decoded Gemini events in order, then `finish()`; send every bytes object as is."""

    def __init__(self, call: ResponsesCall, response_id: str, created_at: int) -> None:
        self._call = call
        self._id = response_id
        self._created_at = created_at
        self._seq = 0
        self._started = False
        self._output: list[JSON] = []
        self._open: JSON | None = None  # the reasoning or message item being streamed
        self._pieces: list[str] = []  # its text so far, joined once at close (no quadratic +=)
        self._ending: Ending | None = None  # set by a finishReason or a prompt block
        self._cited: set[tuple[int, int, int, int]] = set()  # (item, source, start, end) announced
        self._usage_event: JSON | None = None  # the last event with usage (cumulative: it wins)

    def _usage_so_far(self) -> Usage:
        return Usage() if self._usage_event is None else Usage.of(self._usage_event)

    def feed(self, event: JSON) -> list[bytes]:
        out = self._start()
        if "usageMetadata" in event:
            self._usage_event = event  # read when sent: not once per event
        candidates = candidates_of(event)
        if not candidates and (blocked := prompt_ending(event)) is not None:
            self._ending = blocked
        candidate = candidates[0] if candidates else {}
        for part in parts_of(candidate):
            if "functionCall" in part:
                out += self._close()
                out += self._function_call(part)
            elif code_of(part) is not None:
                out += self._close()
                out += self._code(part)
            elif (result := result_of(part)) is not None:
                out += self._code_result(result)
            elif part.get("thought") is True:
                out += self._text("reasoning", str(part.get("text", "")))
            elif text := visible_text(part):
                out += self._text("message", text)
            elif (image := inline_image(part)) is not None:
                if self._open is not None and self._open["type"] == "code_interpreter_call":
                    add_image(self._open, image)  # what the code drew: sent with the item
                    continue
                out += self._close()
                out += self._whole_item(image_item(image))
        if candidate.get("groundingMetadata"):
            out += self._annotations(candidate)
        if candidate.get("finishReason"):
            self._ending = candidate_ending(candidate, self._has_calls())
        return out

    def finish(self) -> list[bytes]:
        out = self._start()
        ending = self._ending or Ending(finish_kind(None, self._has_calls()))
        status, incomplete = response_status(ending)
        out += self._close(status)
        if ending.message:
            out += self._refusal(ending.message, status)
        response = self._response(status, responses_usage(self._usage_so_far()), incomplete)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        out.append(self._emit(kind, response=response))
        return out

    def error_event(self, exc: GatewayError) -> bytes:
        error = openai_error_object(exc)
        return self._emit("error", code=error["code"], message=error["message"], param=error["param"])

    # -- items ---------------------------------------------------------------------------------

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [
            self._emit("response.created", response=self._response("in_progress")),
            self._emit("response.in_progress", response=self._response("in_progress")),
        ]

    def _text(self, kind: str, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or self._open["type"] != kind:
            out += self._close()
            out += self._open_item(kind)
        ids = self._ids()
        self._pieces.append(text)
        if kind == "reasoning":
            out.append(
                self._emit("response.reasoning_summary_text.delta", **ids, summary_index=0, delta=text)
            )
        else:
            out.append(
                self._emit("response.output_text.delta", **ids, content_index=0, delta=text, logprobs=[])
            )
        return out

    def _open_item(self, kind: str) -> list[bytes]:
        item = new_item(kind)
        self._output.append(item)
        self._open = item
        index = len(self._output) - 1
        if kind == "reasoning":
            shell = {**item, "summary": []}
            summary: JSON = {"type": "summary_text", "text": ""}
            return [
                self._emit("response.output_item.added", output_index=index, item=shell),
                self._emit(
                    "response.reasoning_summary_part.added", **self._ids(), summary_index=0, part=summary
                ),
            ]
        shell = {**item, "status": "in_progress", "content": []}
        part: JSON = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self._emit("response.output_item.added", output_index=index, item=shell),
            self._emit("response.content_part.added", **self._ids(), content_index=0, part=part),
        ]

    def _code(self, part: JSON) -> list[bytes]:
        """A code interpreter call opened with its code; it stays open for the result and images."""
        item = interpreter_call(part)
        out = self._open_code(item)
        ids = self._ids()
        code = item["code"]
        return [
            *out,
            self._emit("response.code_interpreter_call_code.delta", **ids, delta=code),
            self._emit("response.code_interpreter_call_code.done", **ids, code=code),
            self._emit("response.code_interpreter_call.interpreting", **ids),
        ]

    def _code_result(self, result: JSON) -> list[bytes]:
        out: list[bytes] = []
        if self._open is None or not takes_result(self._open, result):
            out += self._close()
            out += self._open_code(interpreter_call(None))  # a result without its code
            out.append(self._emit("response.code_interpreter_call.interpreting", **self._ids()))
        assert self._open is not None
        add_result(self._open, result)
        return out

    def _open_code(self, item: JSON) -> list[bytes]:
        self._output.append(item)
        self._open = item
        index = len(self._output) - 1
        shell = {**item, "code": "" if item["code"] is not None else None, "status": "in_progress"}
        return [
            self._emit("response.output_item.added", output_index=index, item=shell),
            self._emit("response.code_interpreter_call.in_progress", **self._ids()),
        ]

    def _close(self, status: str = "completed") -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        text, self._pieces = "".join(self._pieces), []
        index = self._output.index(item)
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "code_interpreter_call":
            finished_call(item)
            return [
                self._emit("response.code_interpreter_call.completed", **ids),
                self._emit("response.output_item.done", output_index=index, item=item),
            ]
        if item["type"] == "reasoning":
            part = item["summary"][0]
            part["text"] = text
            return [
                self._emit("response.reasoning_summary_text.done", **ids, summary_index=0, text=part["text"]),
                self._emit("response.reasoning_summary_part.done", **ids, summary_index=0, part=part),
                self._emit("response.output_item.done", output_index=index, item=item),
            ]
        item["status"] = status
        part = item["content"][0]
        part["text"] = text
        return [
            self._emit("response.output_text.done", **ids, content_index=0, text=part["text"], logprobs=[]),
            self._emit("response.content_part.done", **ids, content_index=0, part=part),
            self._emit("response.output_item.done", output_index=index, item=item),
        ]

    def _has_calls(self) -> bool:
        return any(item["type"] == "function_call" for item in self._output)

    def _annotations(self, candidate: JSON) -> list[bytes]:
        """Citations over all message text so far, each announced once, on the item it falls in."""
        messages = [(i, item) for i, item in enumerate(self._output) if item["type"] == "message"]
        texts = [
            "".join(self._pieces) if item is self._open else item["content"][0]["text"]
            for _, item in messages
        ]
        found = citations(candidate, "".join(texts))
        out = []
        for (index, item), cited in zip(
            messages, split_by_segments(found, [len(t) for t in texts]), strict=True
        ):
            annotations = item["content"][0]["annotations"]
            for citation in cited:
                key = (index, citation.source, citation.start, citation.end)
                if key in self._cited:
                    continue
                self._cited.add(key)
                annotation = url_citation(citation)
                annotations.append(annotation)
                out.append(
                    self._emit(
                        "response.output_text.annotation.added",
                        item_id=item["id"],
                        output_index=index,
                        content_index=0,
                        annotation_index=len(annotations) - 1,
                        annotation=annotation,
                    )
                )
        return out

    def _refusal(self, message: str, status: str) -> list[bytes]:
        """A message item holding one refusal part: Google's reason for withholding the answer."""
        item = {**new_item("message"), "status": status, "content": [{"type": "refusal", "refusal": message}]}
        self._output.append(item)
        index = len(self._output) - 1
        ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
        return [
            self._emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            ),
            self._emit("response.content_part.added", **ids, part={"type": "refusal", "refusal": ""}),
            self._emit("response.refusal.delta", **ids, delta=message),
            self._emit("response.refusal.done", **ids, refusal=message),
            self._emit("response.content_part.done", **ids, part=item["content"][0]),
            self._emit("response.output_item.done", output_index=index, item=item),
        ]

    def _whole_item(self, item: JSON) -> list[bytes]:
        self._output.append(item)
        index = len(self._output) - 1
        return [
            self._emit(
                "response.output_item.added", output_index=index, item={**item, "status": "in_progress"}
            ),
            self._emit("response.output_item.done", output_index=index, item=item),
        ]

    def _function_call(self, part: JSON) -> list[bytes]:
        item = function_call_item(part)
        self._output.append(item)
        index = len(self._output) - 1
        ids = {"item_id": item["id"], "output_index": index}
        return [
            self._emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "arguments": "", "status": "in_progress"},
            ),
            self._emit("response.function_call_arguments.delta", **ids, delta=item["arguments"]),
            self._emit(
                "response.function_call_arguments.done", **ids, name=item["name"], arguments=item["arguments"]
            ),
            self._emit("response.output_item.done", output_index=index, item=item),
        ]

    # -- framing -------------------------------------------------------------------------------

    def _ids(self) -> dict[str, Any]:
        assert self._open is not None
        return {"item_id": self._open["id"], "output_index": len(self._output) - 1}

    def _response(self, status: str, usage: JSON | None = None, incomplete: JSON | None = None) -> JSON:
        return response_object(
            self._call,
            response_id=self._id,
            created_at=self._created_at,
            status=status,
            output=list(self._output) if status != "in_progress" else [],
            usage=usage,
            incomplete=incomplete,
        )

    def _emit(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse_event(kind, payload)
