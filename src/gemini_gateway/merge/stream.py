"""Merge the events of a Gemini stream into the one GenerateContentResponse they add up to.

Each event carries a slice of every candidate. Consecutive text parts of the same kind are
joined (answer text with answer text, thought text with thought text), so the merged answer
reads like the client saw it; function calls and other parts are kept whole and in order.
Per-candidate `finishReason`, safety and citation data, and the response-level usage, model
version and prompt feedback, are taken from the last event that carried them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from gemini_gateway.merge.interactions import is_interaction_event, merge_interaction_events

_LAST_WINS_CANDIDATE = (
    "finishReason",
    "finishMessage",
    "safetyRatings",
    "citationMetadata",
    "groundingMetadata",
)
_LAST_WINS_RESPONSE = ("usageMetadata", "modelVersion", "responseId", "promptFeedback", "createTime")


# A text part with no other keys than these may be joined with a neighbour of its kind.
_JOINABLE = frozenset(("text", "thought", "thoughtSignature"))


class _Candidate:
    """One candidate being merged: its target dict, the parts list in it, and the text part that
    may take the next text of its kind (`open_kind`; None when the last part may not: a call, a
    signed part), with the texts it is made of (joined once at the end)."""

    __slots__ = ("open_kind", "parts", "target", "texts")

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []
        self.target: dict[str, Any] = {"content": {"parts": self.parts, "role": "model"}}
        self.open_kind: str | None = None
        self.texts: list[str] = []


def merge_events(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    # Every record of a stream passes here (20 events, say, on the writer's core): the per-part
    # work is written out inline, and what a candidate needs is kept on it, not looked up again.
    merged: dict[str, Any] = {}
    candidates: dict[int, _Candidate] = {}
    for event in events:
        listed = event.get("candidates")
        if isinstance(listed, list):
            for position, candidate in enumerate(listed):
                if not isinstance(candidate, dict):
                    continue
                index = candidate.get("index", position)
                if not isinstance(index, int):  # the key the candidates are sorted by
                    index = position
                state = candidates.get(index)
                if state is None:
                    state = candidates[index] = _Candidate()
                target = state.target
                content = candidate.get("content")
                if isinstance(content, dict):
                    role = content.get("role")
                    if role:
                        target["content"]["role"] = role
                    parts = content.get("parts")
                    if isinstance(parts, list):
                        _add_parts(state, parts)
                for key in _LAST_WINS_CANDIDATE:
                    if key in candidate:
                        target[key] = candidate[key]
                if "index" in candidate:
                    target["index"] = index
        for key in _LAST_WINS_RESPONSE:
            if key in event:
                merged[key] = event[key]
    for state in candidates.values():
        _close_text(state)
    if candidates:
        merged["candidates"] = [candidates[i].target for i in sorted(candidates)]
    return merged


def _add_parts(state: _Candidate, parts: list[Any]) -> None:
    for part in parts:
        if not isinstance(part, dict):
            continue
        text = part.get("text")
        # "thought" or "text" for a plain text part, which may join a neighbour of its kind.
        kind = (
            ("thought" if part.get("thought") else "text")
            if isinstance(text, str) and _JOINABLE.issuperset(part)
            else None
        )
        if kind is not None and kind == state.open_kind:
            # Joined once at the end: adding to the text each time copies it each time, which
            # made a 5,000-event answer take a second.
            state.texts.append(part["text"])
            if "thoughtSignature" in part:
                state.parts[-1]["thoughtSignature"] = part["thoughtSignature"]
                _close_text(state)
            continue
        _close_text(state)
        state.parts.append(dict(part))
        if kind is not None and "thoughtSignature" not in part:
            state.open_kind = kind
            state.texts.append(part["text"])


def _close_text(state: _Candidate) -> None:
    """The open text part takes its joined text, and no more."""
    if len(state.texts) > 1:
        state.parts[-1]["text"] = "".join(state.texts)
    state.texts.clear()
    state.open_kind = None


def _list(value: Any) -> list[Any] | tuple[()]:
    """`value` if it is a list, else nothing to iterate: upstream's shapes are not trusted here."""
    return value if isinstance(value, list) else ()


def merge_event_bytes(payloads: Iterable[bytes]) -> dict[str, Any]:
    """`merge_events` over raw JSON payloads; undecodable ones (a cut stream) are skipped."""
    decoded: list[dict[str, Any]] = []
    for payload in payloads:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and "error" not in event:
            decoded.append(event)
    if decoded and is_interaction_event(decoded[0]):
        return merge_interaction_events(decoded)  # an Interactions stream, not generateContent
    return merge_events(decoded)


def answer_text(response: dict[str, Any]) -> str | None:
    """The visible answer of the first candidate (thoughts left out), or None if it has no text."""
    candidates = _list(response.get("candidates"))
    if not candidates or not isinstance(candidates[0], dict):
        return None
    content = candidates[0].get("content")
    parts = _list(content.get("parts")) if isinstance(content, dict) else ()
    texts = [
        p["text"]
        for p in parts
        if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]
    return "".join(texts) if texts else None
