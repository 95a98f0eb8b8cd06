"""A Gemini GenerateContentRequest as what must be done on the page: pure, no I/O.

The page has one prompt box, so a conversation of several turns is entered as one transcript;
the system instruction, sampling settings, thinking settings and function declarations go to
their own controls. Inline images and files (`inlineData`) are attached through the page's upload
control, as a person would; in a transcript of several turns, each one is named where it was
sent. Only what the client sent is set: anything else stays as a fresh chat has it. What the page
cannot do (files by URI, structured output, several candidates) is refused with `Unsupported`,
which the backend turns into a failover to another kind of credential.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

THINKING_LEVELS = {"minimal": "Minimal", "low": "Low", "medium": "Medium", "high": "High"}
ATTACHMENTS_LIMIT = 20 * 1024 * 1024  # bytes of inline data in one request, as the Gemini API takes


class Unsupported(Exception):
    """The call needs something the page cannot do."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """An inline image or file, to go through the page's upload control."""

    name: str  # what the file chooser is given, e.g. attachment-1.png
    mime_type: str
    data: bytes


@dataclass(slots=True)
class PageRequest:
    model: str
    prompt: str
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    stop: list[str] | None = None
    thinking_budget: int | None = None  # 0 off, -1 automatic, >0 a manual budget
    thinking_level: str | None = None  # the label the page shows ("Low", "High", ...)
    include_thoughts: bool = False
    functions: list[dict[str, Any]] = field(default_factory=list)
    google_search: bool = False
    # The functions are described in the prompt and calls parsed from the answer (emulated_tools)
    emulate_tools: bool = False
    attachments: list[Attachment] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        """The run settings requested, for the monitoring view and logs."""
        names = ("temperature", "top_p", "max_output_tokens", "stop", "thinking_budget", "thinking_level")
        return {name: value for name in names if (value := getattr(self, name)) is not None}


def page_request(model: str, body: bytes) -> PageRequest:
    try:
        request = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise Unsupported("the request body is not JSON") from exc
    if not isinstance(request, dict):
        raise Unsupported("the request body is not a JSON object")
    config = _field(request, "generationConfig") or {}
    _refuse_unsupported_config(config)
    stops = _field(config, "stopSequences")
    attachments: list[Attachment] = []
    result = PageRequest(
        model=model,
        prompt=transcript(request.get("contents") or [], attachments),
        system=_text_of(_field(request, "systemInstruction")) or None,
        temperature=_number(config.get("temperature")),
        top_p=_number(_field(config, "topP")),
        max_output_tokens=_integer(_field(config, "maxOutputTokens")),
        stop=[str(s) for s in stops] if isinstance(stops, list) else None,
        attachments=attachments,
    )
    if sum(len(a.data) for a in attachments) > ATTACHMENTS_LIMIT:
        raise Unsupported(f"the inline files are larger than the {ATTACHMENTS_LIMIT} bytes the page takes")
    thinking = _field(config, "thinkingConfig") or {}
    if isinstance(thinking, dict):
        result.thinking_budget = _integer(_field(thinking, "thinkingBudget"))
        level = _field(thinking, "thinkingLevel")
        if isinstance(level, str):
            result.thinking_level = THINKING_LEVELS.get(level.lower(), level.capitalize())
        result.include_thoughts = bool(_field(thinking, "includeThoughts"))
    for tool in request.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        declarations = _field(tool, "functionDeclarations")
        if declarations:
            result.functions.extend(d for d in declarations if isinstance(d, dict))
        elif _field(tool, "googleSearch") is not None:
            result.google_search = True
        else:
            raise Unsupported(f"the page offers no tool like {sorted(tool)!r}")
    return result


def _field(obj: dict[str, Any], name: str) -> Any:
    """A request field by its JSON name or its proto name: Google accepts both, and SDKs send
    either (google-genai writes `thinking_budget` inside thinkingConfig)."""
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name))


def _refuse_unsupported_config(config: dict[str, Any]) -> None:
    if (_field(config, "candidateCount") or 1) > 1:
        raise Unsupported("the page answers one candidate at a time")
    if _field(config, "responseSchema") or _field(config, "responseJsonSchema"):
        raise Unsupported("structured output (responseSchema) is not driven on the page")
    modalities = [m for m in _field(config, "responseModalities") or [] if str(m).upper() != "TEXT"]
    if modalities:
        raise Unsupported(f"the page backend answers text only, not {modalities}")


def transcript(contents: list[Any], attachments: list[Attachment] | None = None) -> str:
    """The conversation as the one message typed into the prompt box; inline files are added to
    `attachments` (None: refused).

    A single user turn is typed as it is, its files attached with it; several turns become a
    labelled transcript, so the model sees the history the client keeps (the page holds none
    between calls), with `[attached NAME]` where each file was sent.
    """
    turns = [c for c in contents if isinstance(c, dict)]
    if len(turns) == 1 and turns[0].get("role", "user") == "user":
        return _turn_text(turns[0], attachments, mark=False)
    blocks = []
    for turn in turns:
        label = "Model" if turn.get("role") == "model" else "User"
        blocks.append(f"{label}: {_turn_text(turn, attachments, mark=True)}")
    return "\n\n".join(blocks)


def _attachment(blob: Any, number: int) -> Attachment:
    if not isinstance(blob, dict) or not isinstance(blob.get("data"), str):
        raise Unsupported("an inlineData part without base64 data")
    mime = _field(blob, "mimeType")
    mime = mime if isinstance(mime, str) and mime else "application/octet-stream"
    try:
        data = base64.b64decode(blob["data"].replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise Unsupported("an inlineData part whose data is not base64") from None
    extension = mimetypes.guess_extension(mime.split(";")[0].strip()) or ".bin"
    return Attachment(f"attachment-{number}{extension}", mime, data)


def _turn_text(turn: dict[str, Any], attachments: list[Attachment] | None = None, mark: bool = False) -> str:
    pieces: list[str] = []
    for part in turn.get("parts") or []:
        if not isinstance(part, dict):
            continue
        if part.get("thought"):
            continue  # earlier reasoning is not replayed, as with the API
        if isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif isinstance(call := _field(part, "functionCall"), dict):
            args = orjson.dumps(call.get("args") or {}).decode()
            pieces.append(f"[called function {call.get('name')} with {args}]")
        elif isinstance(reply := _field(part, "functionResponse"), dict):
            result = orjson.dumps(reply.get("response") or {}).decode()
            pieces.append(f"[function {reply.get('name')} returned {result}]")
        elif (blob := _field(part, "inlineData")) is not None:
            if attachments is None:
                raise Unsupported("the page backend takes inline files in the prompt only")
            attachment = _attachment(blob, len(attachments) + 1)
            attachments.append(attachment)
            if mark:
                pieces.append(f"[attached {attachment.name}]")
        elif _field(part, "fileData") is not None:
            # A Files API file lives in a project the page's account cannot read.
            raise Unsupported("the page backend cannot attach files by URI (fileData); send them inline")
    return "\n".join(pieces)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, dict):
        return ""
    parts = content.get("parts") or []
    return "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
