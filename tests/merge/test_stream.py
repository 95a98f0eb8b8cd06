"""Merging a Gemini stream's events into the one answer they add up to."""

from __future__ import annotations

import orjson

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
