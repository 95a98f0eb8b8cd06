"""Whether a 200 from Gemini is empty for no reason, so that another credential may do better.

Gemini sometimes answers 200 with a candidate that has no parts and finishReason STOP (or with no
candidates at all), and the same request on another key gets a full answer. An empty answer with
a reason (a blocked prompt, a SAFETY / RECITATION / MAX_TOKENS stop) is the model's answer and
the same everywhere: it is passed on.

Cheap on the hot path: an answer with `"parts"` in it is taken as full without parsing (a small
one when a byte scan finds a list with something in it, since `"parts": []` is empty too); only
the rest is read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

PARTS = b'"parts"'
# Finish reasons that do not explain an answer without content.
UNEXPLAINED_FINISH = frozenset({"STOP", "FINISH_REASON_UNSPECIFIED", ""})
SMALL_ANSWER = 1024  # bytes under which an answer's "parts" are looked at to see they are not all empty
# A "parts" key holding a list with something in it; `"parts": []` is the empty answer's.
_NON_EMPTY_PARTS = re.compile(rb'"parts"\s*:\s*\[\s*[^\]\s]')


def is_empty_answer(body: bytes) -> bool:
    """A generateContent body that holds no content and says nothing about why."""
    # find, not `in`: on CPython 3.11 `bytes in bytes` first tries the needle as an int and
    # raises (and clears) a TypeError, a few thousand instructions on every call.
    at = body.find(PARTS)
    if at >= 0 and (len(body) > SMALL_ANSWER or _NON_EMPTY_PARTS.search(body, at) is not None):
        # `parts` lives only in a candidate's content (or inside one), so a non-empty list of
        # them is an answer; parsing a small one to see that cost as much as the rest of the call.
        return False
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False  # not ours to judge: the dialect's decoding reports it
    return isinstance(answer, dict) and not _has_content([answer]) and not _explained([answer])


def holds_parts(payloads: Iterable[bytes]) -> bool:
    """Whether any stream event of these may carry content (cheap: a byte search)."""
    return any(payload.find(PARTS) >= 0 for payload in payloads)  # find: see is_empty_answer


def is_empty_stream(payloads: list[bytes]) -> bool:
    """Events of a stream (all of them, or all up to its finish) with no content and no reason."""
    answers = []
    for payload in payloads:
        try:
            answer = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if isinstance(answer, dict):
            answers.append(answer)
    return not _has_content(answers) and not _explained(answers)


def _candidates(answer: dict[str, Any]) -> list[dict[str, Any]]:
    candidates = answer.get("candidates")
    return [c for c in candidates if isinstance(c, dict)] if isinstance(candidates, list) else []


def _has_content(answers: list[dict[str, Any]]) -> bool:
    for answer in answers:
        for candidate in _candidates(answer):
            content = candidate.get("content")
            if isinstance(content, dict) and content.get("parts"):
                return True
    return False


def _explained(answers: list[dict[str, Any]]) -> bool:
    for answer in answers:
        feedback = answer.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            return True
        for candidate in _candidates(answer):
            reason = candidate.get("finishReason")
            if isinstance(reason, str) and reason not in UNEXPLAINED_FINISH:
                return True
    return False
