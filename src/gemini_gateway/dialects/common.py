"""What every dialect needs: field checks, ids and thought signatures, finish reasons, usage, parts.

Thought signatures are kept stateless: a Gemini `thoughtSignature` on a functionCall part is folded
into the tool-call id handed to the client (OpenAI `call_...`, Anthropic `toolu_...`), and read back
out when the client replays that call. No cache, so restarts and several replicas don't matter.

    call_<24 hex>_g<signature, url-safe base64 without padding>     (Gemini sent no call id)
    call_i-<gemini call id>_g<signature>                            (Gemini sent one)

The `_g` marker is present even when there is no signature, so our own unsigned calls (the 2nd..nth
of a parallel step, or calls of non-thinking models) are told apart from foreign ids, which get
Google's documented bypass value instead.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from gemini_gateway.errors import RequestError

JSON = dict[str, Any]

SKIP_SIGNATURE: Final = "skip_thought_signature_validator"
SSE_DONE: Final = b"data: [DONE]\n\n"


class ParamError(RequestError):
    """A client field is missing, mistyped or out of range; `param` names it as the client sent it."""

    def __init__(self, param: str | None, message: str, *, status_code: int = 400) -> None:
        super().__init__(f"{param}: {message}" if param else message, status_code=status_code)
        self.param = param


# --- typed field access --------------------------------------------------------------------------

# Every integer a dialect hands Gemini (maxOutputTokens, topK, seed, candidateCount, thinkingBudget,
# outputDimensionality...) is an int32 in Google's protos: a bound unless a field names a tighter one.
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1


def _type_error(param: str, expected: str, value: object) -> ParamError:
    return ParamError(param, f"expected {expected}, got {type(value).__name__}")


def opt_str(body: JSON, key: str, param: str | None = None) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _type_error(param or key, "a string", value)


def req_str(body: JSON, key: str, param: str | None = None) -> str:
    value = opt_str(body, key, param)
    if not value:
        raise ParamError(param or key, "is required")
    return value


def opt_int(
    body: JSON, key: str, param: str | None = None, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _type_error(param or key, "an integer", value)
    _check_range(
        param or key,
        value,
        INT32_MIN if minimum is None else minimum,
        INT32_MAX if maximum is None else maximum,
    )
    return value


def opt_num(
    body: JSON,
    key: str,
    param: str | None = None,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _type_error(param or key, "a number", value)
    _check_range(param or key, value, minimum, maximum)
    return value


def _check_range(param: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ParamError(param, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ParamError(param, f"must be <= {maximum}, got {value}")


def opt_bool(body: JSON, key: str, param: str | None = None) -> bool | None:
    value = body.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(param or key, "a boolean", value)


def opt_dict(body: JSON, key: str, param: str | None = None) -> JSON | None:
    value = body.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise _type_error(param or key, "an object", value)


def opt_list(body: JSON, key: str, param: str | None = None) -> list[Any] | None:
    value = body.get(key)
    if value is None or isinstance(value, list):
        return value
    raise _type_error(param or key, "an array", value)


def as_dict(value: object, param: str) -> JSON:
    if isinstance(value, dict):
        return value
    raise _type_error(param, "an object", value)


def stop_list(value: object, param: str, limit: int = 5) -> list[str] | None:
    """`stop` / `stop_sequences`: a string or a list of strings, at most what Gemini takes."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise ParamError(param, "expected a string or an array of strings")
    if len(items) > limit:
        raise ParamError(param, f"at most {limit} stop sequences are supported, got {len(items)}")
    return [s for s in items if s] or None


def json_text(value: object) -> str:
    return orjson.dumps(value).decode()


# --- ids and thought signatures ------------------------------------------------------------------


# Ids a client sees (`chatcmpl-...`, `msg_...`, tool-call ids) need to be unique, not secret: a
# generator seeded from the OS once per process gives them without the getrandom() syscall that
# `secrets` makes per id (a few per call, on every OpenAI and Anthropic answer). Reseeded in a
# forked child, which would otherwise repeat its parent's ids.
_IDS = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _IDS.seed(os.urandom(32)))


def new_id(prefix: str, size: int = 12) -> str:
    """`prefix` and `size` random bytes in hex."""
    return f"{prefix}{_IDS.getrandbits(size * 8):0{size * 2}x}"


_GEMINI_ID_OK = re.compile(r"[A-Za-z0-9-]{1,64}")
_CALL_ID = re.compile(r"[A-Za-z]+_(?:[0-9a-f]{24}|i-(?P<gid>[A-Za-z0-9-]{1,64}))_g(?P<sig>[A-Za-z0-9_-]*)")
_TO_URLSAFE = str.maketrans("+/", "-_")
_FROM_URLSAFE = str.maketrans("-_", "+/")
_B64_CHARS = re.compile(r"[A-Za-z0-9+/_-]*=*")


@dataclass(frozen=True, slots=True)
class CallRef:
    """What a tool-call id minted here remembers about the Gemini functionCall behind it."""

    signature: str | None
    gemini_id: str | None


def encode_call_id(prefix: str, signature: str | None = None, gemini_id: str | None = None) -> str:
    core = f"i-{gemini_id}" if gemini_id and _GEMINI_ID_OK.fullmatch(gemini_id) else new_id("")
    sig = ""
    if signature and _B64_CHARS.fullmatch(signature):
        sig = signature.rstrip("=").translate(_TO_URLSAFE)
    return f"{prefix}{core}_g{sig}"


def decode_call_id(call_id: str) -> CallRef | None:
    """The signature and Gemini id folded into an id minted here; None for anyone else's id."""
    match = _CALL_ID.fullmatch(call_id)
    if match is None:
        return None
    sig = match["sig"]
    if sig:
        sig = sig.translate(_FROM_URLSAFE)
        sig += "=" * (-len(sig) % 4)
    return CallRef(signature=sig or None, gemini_id=match["gid"])


def function_call_part(name: str, args: JSON, call_id: str | None) -> JSON:
    """A model-turn functionCall part for a call the client replays, signature restored."""
    call: JSON = {"name": name, "args": args}
    part: JSON = {"functionCall": call}
    ref = decode_call_id(call_id) if call_id else None
    if ref is None:
        # Not produced by us (another vendor, a hand-built history): Gemini 3 would reject it unsigned.
        part["thoughtSignature"] = SKIP_SIGNATURE
        return part
    if ref.gemini_id:
        call["id"] = ref.gemini_id
    if ref.signature:
        part["thoughtSignature"] = ref.signature
    return part


def function_response_part(name: str, response: JSON, call_id: str | None) -> JSON:
    reply: JSON = {"name": name, "response": response}
    ref = decode_call_id(call_id) if call_id else None
    if ref is not None and ref.gemini_id:
        reply["id"] = ref.gemini_id
    return {"functionResponse": reply}


def parse_arguments(arguments: object, param: str) -> JSON:
    """OpenAI sends call arguments as a JSON string; Gemini wants an object."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str):
        raise _type_error(param, "a JSON string", arguments)
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise ParamError(param, f"is not valid JSON ({exc})") from None
    return value if isinstance(value, dict) else {"value": value}


# --- answers: candidates, parts, finish reasons, usage -------------------------------------------

FinishKind = Literal["stop", "length", "tool_calls", "content_filter"]

_NORMAL_ENDS: Final = frozenset({"", "STOP", "FINISH_REASON_UNSPECIFIED"})


def finish_kind(reason: str | None, has_calls: bool) -> FinishKind:
    """Gemini finishReason -> the neutral reason dialects render (a call turn still ends with STOP).

    Every ending other than STOP and MAX_TOKENS withholds or spoils the answer (SAFETY, RECITATION,
    MODEL_ARMOR, MALFORMED_FUNCTION_CALL, ... and any reason added later), so each is rendered as
    the one "not answered" value the dialects have, never as a clean stop; `Ending.message` names it.
    """
    if not reason or reason in _NORMAL_ENDS:
        return "tool_calls" if has_calls else "stop"
    if reason == "MAX_TOKENS":
        return "length"
    return "content_filter"


@dataclass(frozen=True, slots=True)
class Ending:
    """How an answer (or one candidate) ended, with what the user should be told about it."""

    kind: FinishKind
    reason: str | None = None  # Gemini's own word: finishReason, or promptFeedback.blockReason
    message: str | None = None  # for content_filter: Google's explanation, or one naming the reason

    @property
    def unusual(self) -> bool:
        """True when Gemini's reason says more than the dialect's value (shown as native_finish_reason)."""
        return bool(self.reason) and self.reason not in _NORMAL_ENDS


def candidate_ending(candidate: JSON, has_calls: bool) -> Ending:
    reason = candidate.get("finishReason")
    reason = str(reason) if reason else None
    kind = finish_kind(reason, has_calls)
    if kind != "content_filter":
        return Ending(kind, reason)
    message = candidate.get("finishMessage")
    if not isinstance(message, str) or not message:
        message = f"Gemini withheld the answer (finishReason {reason})."
    return Ending(kind, reason, message)


def prompt_ending(response: JSON) -> Ending | None:
    """The ending of an answer whose prompt was refused (promptFeedback.blockReason, no candidates)."""
    reason = blocked_reason(response)
    if reason is None:
        return None
    feedback = response["promptFeedback"]
    message = feedback.get("blockReasonMessage")
    if not isinstance(message, str) or not message:
        message = f"Gemini refused the prompt (blockReason {reason})."
    return Ending("content_filter", reason, message)


def answer_ending(response: JSON, candidate: JSON | None, has_calls: bool) -> Ending:
    """The first candidate's ending, or the prompt block's when there is no candidate."""
    if candidate:
        return candidate_ending(candidate, has_calls)
    return prompt_ending(response) or Ending(finish_kind(None, has_calls))


def candidates_of(response: JSON) -> list[JSON]:
    found = response.get("candidates")
    if not isinstance(found, list):
        return []
    return [c for c in found if isinstance(c, dict)]


def parts_of(candidate: JSON) -> list[JSON]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def blocked_reason(response: JSON) -> str | None:
    """promptFeedback.blockReason when the prompt itself was refused (then there are no candidates)."""
    feedback = response.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return str(feedback["blockReason"])
    return None


def visible_text(part: JSON) -> str | None:
    """Text a client should see for a non-thought, non-call part; None when the part has none.

    Code execution has no slot in the text dialects, so it is shown the way chat UIs render it
    (markdown) rather than dropped. Images are not text: see `inline_image`.
    """
    text = part.get("text")
    if isinstance(text, str):
        return text
    if code := part.get("executableCode"):
        return f"\n```{str(code.get('language', '')).lower()}\n{code.get('code', '')}\n```\n"
    if result := part.get("codeExecutionResult"):
        return f"\n```output\n{result.get('output', '')}\n```\n"
    return None


def inline_image(part: JSON) -> tuple[str, str] | None:
    """(mime type, base64 data) of an image the model produced inline; None for anything else."""
    blob = part.get("inlineData")
    if (
        isinstance(blob, dict)
        and str(blob.get("mimeType", "")).startswith("image/")
        and part.get("thought") is not True
    ):
        return str(blob["mimeType"]), str(blob.get("data", ""))
    return None


def data_url(image: tuple[str, str]) -> str:
    return f"data:{image[0]};base64,{image[1]}"


@dataclass(slots=True)
class Usage:
    prompt: int = 0
    candidates: int = 0
    thoughts: int = 0
    cached: int = 0
    tool_prompt: int = 0
    total: int = 0

    @property
    def output(self) -> int:
        """What OpenAI and Anthropic call completion/output tokens: answer plus reasoning."""
        return self.candidates + self.thoughts

    @classmethod
    def of(cls, response: JSON) -> Usage:
        meta = response.get("usageMetadata")
        if not isinstance(meta, dict):
            return cls()
        # Zero counts are omitted on the wire.
        usage = cls(
            prompt=int(meta.get("promptTokenCount") or 0),
            candidates=int(meta.get("candidatesTokenCount") or 0),
            thoughts=int(meta.get("thoughtsTokenCount") or 0),
            cached=int(meta.get("cachedContentTokenCount") or 0),
            tool_prompt=int(meta.get("toolUsePromptTokenCount") or 0),
        )
        total = meta.get("totalTokenCount")
        usage.total = int(total) if total else usage.prompt + usage.tool_prompt + usage.output
        return usage


# --- requests: merging turns -----------------------------------------------------------------------


def append_turn(contents: list[JSON], role: str, parts: Sequence[JSON]) -> None:
    """Add parts as a turn, merged into the previous one when the role repeats (Gemini alternates)."""
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": list(parts)})


# --- SSE framing -----------------------------------------------------------------------------------


def sse_data(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def sse_event(name: str, payload: object) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
