"""Thought signatures: the fake's own (recognisable, deterministic) and Gemini 3's history check.

Gemini 3 refuses a history whose current step has a model functionCall without the signature it
was sent with, so a gateway that drops or mangles signatures fails against the fake as it would
against Google. Signatures are checked for shape, not against the exact call they came with.
"""

from __future__ import annotations

import base64
import hashlib

from gemini_gateway.fake_upstream.errors import FakeApiError, Json
from gemini_gateway.fake_upstream.prompt import decode_bytes

SKIP_VALIDATOR = "skip_thought_signature_validator"  # Google's documented "not from this model" value
_PREFIX = b"fake-gemini-thought-signature:"


def make_signature(*seeds: str) -> str:
    digest = hashlib.blake2b("\x00".join(seeds).encode(), digest_size=24).digest()
    return base64.b64encode(_PREFIX + digest).decode()


def check_history(contents: list[Json]) -> None:
    """Reject a current step whose first functionCall in a model turn lacks a valid signature.

    The current step is everything after the last user turn that is not only function results.
    """
    start = 0
    for index, content in enumerate(contents):
        parts = content.get("parts") or ()
        if content.get("role") != "model" and not any("functionResponse" in p for p in parts):
            start = index + 1
    for index in range(start, len(contents)):
        content = contents[index]
        if content.get("role") != "model":
            continue
        for position, part in enumerate(content.get("parts") or ()):
            call = part.get("functionCall")
            if call is None:
                continue
            _check_one(part.get("thoughtSignature"), str(call.get("name", "")), index, position)
            break  # parallel calls: only the first carries the step's signature


def _check_one(signature: object, name: str, index: int, position: int) -> None:
    path = f"contents[{index}].parts[{position}].thought_signature"
    if not signature or not isinstance(signature, str):
        raise FakeApiError(
            400,
            "Function call is missing a thought_signature in functionCall parts. This is required for tools "
            "to work correctly, and missing thought_signature may lead to degraded model performance. "
            f"Additional data, function call `default_api:{name}` , position {position + 1}. Please refer "
            "to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
        )
    if signature == SKIP_VALIDATOR:
        return
    decoded = decode_bytes(signature, path)
    if decoded.startswith(_PREFIX) or decoded == SKIP_VALIDATOR.encode():
        return
    raise FakeApiError(400, "Corrupted thought signature.")
