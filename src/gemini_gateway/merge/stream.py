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


def _text_kind(part: dict[str, Any]) -> str | None:
    """ "thought" or "text" for a plain text part that may be joined with its neighbour, else None."""
    if not isinstance(part.get("text"), str) or not _JOINABLE.issuperset(part):
        return None
    return "thought" if part.get("thought") else "text"


def merge_events(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    # Per candidate, the kind of its last part while that part may take the next text of its kind
    # (a signed part may not): looked up once per part, not worked out again from the part.
    open_kind: dict[int, str | None] = {}
    pieces: dict[int, list[str]] = {}  # id of a text part -> the texts it is made of
    for event in events:
        for position, candidate in enumerate(_list(event.get("candidates"))):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", position)
            if not isinstance(index, int):  # the key the candidates are sorted by
                index = position
            target = candidates.get(index)
            if target is None:
                target = candidates[index] = {"content": {"parts": [], "role": "model"}}
            content = candidate.get("content")
            if isinstance(content, dict):
                if content.get("role"):
                    target["content"]["role"] = content["role"]
                parts = target["content"]["parts"]
                joining = open_kind.get(index)
                for part in _list(content.get("parts")):
                    if not isinstance(part, dict):
                        continue
                    kind = _text_kind(part)
                    if kind is not None and kind == joining:
                        previous = parts[-1]
                        # Joined once at the end: adding to the text each time copies it each
                        # time, which made a 5,000-event answer take a second.
                        pieces.setdefault(id(previous), [previous["text"]]).append(part["text"])
                        if "thoughtSignature" in part:
                            previous["thoughtSignature"] = part["thoughtSignature"]
                            joining = None
                        continue
                    parts.append(dict(part))
                    joining = kind if "thoughtSignature" not in part else None
                open_kind[index] = joining
            for key in _LAST_WINS_CANDIDATE:
                if key in candidate:
                    target[key] = candidate[key]
            if "index" in candidate:
                target["index"] = index
        for key in _LAST_WINS_RESPONSE:
            if key in event:
                merged[key] = event[key]
    for candidate in candidates.values():
        for part in candidate["content"]["parts"]:
            texts = pieces.get(id(part))
            if texts is not None:
                part["text"] = "".join(texts)
    if candidates:
        merged["candidates"] = [candidates[i] for i in sorted(candidates)]
    return merged


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
