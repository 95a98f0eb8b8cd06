"""Merging a Gemini stream's events into the one answer they add up to."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gemini_gateway.merge.stream import merge_event_bytes


def event(*parts: dict[str, object], index: int = 0, **extra: object) -> bytes:
    candidate = {"content": {"role": "model", "parts": list(parts)}, "index": index}
    return orjson.dumps({"candidates": [candidate], **extra})


def test_text_joins_by_kind_and_other_parts_stay_whole_and_in_order() -> None:
    call = {"functionCall": {"name": "lookup", "args": {"q": "otters"}}}
    merged = merge_event_bytes(
        [
            event({"text": "Let me ", "thought": True}),
            event({"text": "think.", "thought": True, "thoughtSignature": "sig-1"}),
            event({"text": "Otters "}),
            event({"text": "hold "}, {"text": "hands"}),
            event(call),
            event({"text": "."}),
            b'{"candidates": [',  # a torn last event of a cut stream is skipped
        ]
    )
    assert merged["candidates"][0]["content"]["parts"] == [
        {"text": "Let me think.", "thought": True, "thoughtSignature": "sig-1"},
        {"text": "Otters hold hands"},
        call,
        {"text": "."},
    ]


def test_a_signed_part_is_not_extended_and_last_values_win() -> None:
    merged = merge_event_bytes(
        [
            event({"text": "a", "thoughtSignature": "s"}, usageMetadata={"totalTokenCount": 1}),
            event({"text": "b"}),
            event({"text": "c"}, index=1),
            orjson.dumps({"usageMetadata": {"totalTokenCount": 9}, "modelVersion": "m"}),
        ]
    )
    first, second = merged["candidates"]
    assert first["content"]["parts"] == [{"text": "a", "thoughtSignature": "s"}, {"text": "b"}]
    assert second["content"]["parts"] == [{"text": "c"}] and second["index"] == 1
    assert merged["usageMetadata"] == {"totalTokenCount": 9} and merged["modelVersion"] == "m"


def test_a_long_stream_merges_to_the_whole_text() -> None:
    pieces = [f"piece-{i:05d} " for i in range(5000)]
    merged = merge_event_bytes(event({"text": piece}) for piece in pieces)
    assert merged["candidates"][0]["content"]["parts"] == [{"text": "".join(pieces)}]


# ------------------------------------------------------------------ against a plain reading

_PARTS = st.one_of(
    st.fixed_dictionaries({"text": st.sampled_from(["a", "b ", ""])}),
    st.fixed_dictionaries({"text": st.just("t"), "thought": st.booleans()}),
    st.fixed_dictionaries({"text": st.just("s"), "thoughtSignature": st.sampled_from(["x", "y"])}),
    st.fixed_dictionaries({"text": st.just("u"), "thought": st.just(True), "thoughtSignature": st.just("z")}),
    st.just({"functionCall": {"name": "f", "args": {}}}),
    st.just({"text": "e", "extra": 1}),
    st.just({"text": 5}),
    st.just("not a part"),
)
_CANDIDATES = st.fixed_dictionaries(
    {"content": st.fixed_dictionaries({"role": st.just("model"), "parts": st.lists(_PARTS, max_size=3)})},
    optional={"index": st.sampled_from([0, 1, "x"]), "finishReason": st.just("STOP")},
)
_EVENTS = st.lists(
    st.fixed_dictionaries(
        {"candidates": st.lists(_CANDIDATES, max_size=2)},
        optional={"usageMetadata": st.fixed_dictionaries({"totalTokenCount": st.integers(0, 9)})},
    ),
    max_size=12,
)


def plain_merge(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The merge's rules read as simply as they can be: the reference the fast merge must match."""

    def kind(part: dict[str, Any]) -> str | None:
        if not isinstance(part.get("text"), str) or set(part) - {"text", "thought", "thoughtSignature"}:
            return None
        return "thought" if part.get("thought") else "text"

    merged: dict[str, Any] = {}
    candidates: dict[int, dict[str, Any]] = {}
    for event in events:
        for position, candidate in enumerate(event.get("candidates", [])):
            index = candidate.get("index", position)
            index = index if isinstance(index, int) else position
            target = candidates.setdefault(index, {"content": {"parts": [], "role": "model"}})
            target["content"]["role"] = candidate["content"]["role"]
            parts = target["content"]["parts"]
            for part in candidate["content"]["parts"]:
                if not isinstance(part, dict):
                    continue
                last = parts[-1] if parts else None
                if (
                    last is not None
                    and kind(part) is not None
                    and kind(part) == kind(last)
                    and "thoughtSignature" not in last
                ):
                    last["text"] += part["text"]
                    if "thoughtSignature" in part:
                        last["thoughtSignature"] = part["thoughtSignature"]
                else:
                    parts.append(dict(part))
            if "finishReason" in candidate:
                target["finishReason"] = candidate["finishReason"]
            if "index" in candidate:
                target["index"] = index
        if "usageMetadata" in event:
            merged["usageMetadata"] = event["usageMetadata"]
    if candidates:
        merged["candidates"] = [candidates[i] for i in sorted(candidates)]
    return merged


@settings(max_examples=400, deadline=None)
@given(_EVENTS)
def test_the_merge_matches_a_plain_reading_of_its_rules(events: list[dict[str, Any]]) -> None:
    assert merge_event_bytes(orjson.dumps(e) for e in events) == plain_merge(events)
