"""Which 200s hold no answer for no reason (pure judgement, no I/O)."""

from __future__ import annotations

import orjson
import pytest

from gemini_gateway.empty_answers import is_empty_answer, is_empty_stream


def dumps(answer: dict[str, object]) -> bytes:
    return orjson.dumps(answer)


def candidate(finish: str | None, parts: list[dict[str, str]] | None) -> dict[str, object]:
    content: dict[str, object] = {"role": "model"} if parts is None else {"role": "model", "parts": parts}
    return {"content": content, **({"finishReason": finish} if finish else {})}


@pytest.mark.parametrize(
    ("answer", "empty"),
    [
        ({"candidates": [candidate("STOP", None)]}, True),
        ({"candidates": [candidate("STOP", [])]}, True),
        ({"candidates": []}, True),
        ({"usageMetadata": {"promptTokenCount": 3}}, True),
        ({"candidates": [candidate("STOP", [{"text": "hi"}])]}, False),
        ({"candidates": [candidate("SAFETY", None)]}, False),
        ({"candidates": [candidate("MAX_TOKENS", None)]}, False),
        ({"promptFeedback": {"blockReason": "OTHER"}}, False),
    ],
)
def test_unary_answers(answer: dict[str, object], empty: bool) -> None:
    assert is_empty_answer(dumps(answer)) is empty


def test_a_large_answer_with_parts_is_not_parsed() -> None:
    assert not is_empty_answer(b'{"candidates": [{"content": {"parts": [' + b" " * 2000 + b"not json")
    assert not is_empty_answer(b"not json at all")


def test_streams_are_judged_on_all_their_events() -> None:
    silent = dumps({"usageMetadata": {"promptTokenCount": 3}})
    assert is_empty_stream([silent, dumps({"candidates": [candidate("STOP", None)]})])
    assert not is_empty_stream([silent, dumps({"candidates": [candidate("RECITATION", None)]})])
    assert not is_empty_stream([silent, dumps({"candidates": [candidate(None, [{"text": "a"}])]})])
