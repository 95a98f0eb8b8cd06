"""An `AnswerPlan` as Google sends it: one GenerateContentResponse, or a stream of them framed
as SSE (`alt=sse`) or as one JSON array written piece by piece (no `alt`)."""

from __future__ import annotations

import orjson

from gemini_gateway.fake_upstream.errors import Json
from gemini_gateway.fake_upstream.generation import AnswerPlan, CandidatePlan

SSE_END = b"\r\n\r\n"  # captured Google streams end events with CRLF CRLF
ARRAY_SEPARATOR = b",\r\n"


def render_response(plan: AnswerPlan) -> Json:
    candidates = [
        {
            "content": {"parts": _whole_parts(c), "role": "model"},
            "finishReason": c.finish_reason,
            "index": index,
        }
        for index, c in enumerate(plan.candidates)
    ]
    return {
        "candidates": candidates,
        "usageMetadata": plan.usage(),
        "modelVersion": plan.model_version,
        "responseId": plan.response_id,
    }


def _whole_parts(candidate: CandidatePlan) -> list[Json]:
    parts: list[Json] = []
    if candidate.thought is not None:
        parts.append({"text": candidate.thought, "thought": True})
    parts += _code_parts(candidate)
    if candidate.function_call is not None:
        parts.append(_signed({"functionCall": candidate.function_call}, candidate.signature))
    if candidate.text is not None:
        parts.append(_signed({"text": candidate.text}, candidate.signature))
    parts.extend(candidate.media)
    return parts


def _code_parts(candidate: CandidatePlan) -> list[Json]:
    if candidate.code is None:
        return []
    code = _signed({"executableCode": candidate.code}, candidate.code_signature)
    return [code, {"codeExecutionResult": candidate.code_result}]


def _signed(part: Json, signature: str | None) -> Json:
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def split_text(text: str, pieces: int) -> list[str]:
    """`text` cut into at most `pieces` non-empty slices of near-equal length."""
    pieces = max(1, min(pieces, len(text)))
    bounds = [len(text) * i // pieces for i in range(pieces + 1)]
    return [text[bounds[i] : bounds[i + 1]] for i in range(pieces)]


def _stream_pieces(candidate: CandidatePlan, chunks: int) -> list[list[Json]]:
    """The parts each stream event carries for one candidate: thoughts first, text in `chunks`
    slices with the signature on the last, a functionCall or media whole in one event."""
    pieces: list[list[Json]] = []
    if candidate.thought is not None:
        pieces.append([{"text": candidate.thought, "thought": True}])
    pieces += [[part] for part in _code_parts(candidate)]  # code, then its result, as Google streams
    if candidate.text is not None:
        pieces += [[{"text": piece}] for piece in split_text(candidate.text, chunks)] or [[{"text": ""}]]
        _signed(pieces[-1][0], candidate.signature)
    if candidate.function_call is not None:
        pieces.append([_signed({"functionCall": candidate.function_call}, candidate.signature)])
    if candidate.media:
        pieces.append(list(candidate.media))
    return pieces


def stream_events(plan: AnswerPlan, chunks: int) -> list[Json]:
    """Every event of the stream; the last carries finishReason and the full usageMetadata."""
    per_candidate = [_stream_pieces(c, chunks) for c in plan.candidates]
    total = max(len(p) for p in per_candidate) or 1
    partial_usage = plan.usage(final=False)
    events = []
    for step in range(total):
        last = step == total - 1
        candidates = []
        for index, (candidate, pieces) in enumerate(zip(plan.candidates, per_candidate, strict=True)):
            # Right-aligned, so every candidate's final piece arrives with its finishReason.
            position = step - (total - len(pieces))
            entry: Json = {}
            if position >= 0:
                entry["content"] = {"parts": pieces[position], "role": "model"}
            if last:
                entry["finishReason"] = candidate.finish_reason
            if entry:
                entry["index"] = index
                candidates.append(entry)
        events.append(
            {
                "candidates": candidates,
                "usageMetadata": plan.usage() if last else partial_usage,
                "modelVersion": plan.model_version,
                "responseId": plan.response_id,
            }
        )
    return events


def sse_event(event: Json) -> bytes:
    return b"data: " + orjson.dumps(event) + SSE_END


def array_element(event: Json, first: bool) -> bytes:
    """One element of the JSON-array stream, with the `[` or the separator in front of it."""
    return (b"[" if first else ARRAY_SEPARATOR) + orjson.dumps(event, option=orjson.OPT_INDENT_2)
