"""What a request says, reduced to what the fake's answers are built from: the last user turn's
text and media, function results, the system instruction, and token counts."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_gateway.fake_upstream.errors import Json, invalid_json

# Google bills every image as 258 tokens; the fake uses that for any inline or file media.
MEDIA_TOKENS = 258
EXCERPT_WORDS = 30


@dataclass(slots=True)
class Prompt:
    text: str = ""  # text parts of the last user turn, joined
    system: str = ""
    media: list[str] = field(default_factory=list)  # "an image/png of 68 bytes", ...
    function_results: list[tuple[str, Any]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # by modality, as in promptTokensDetails

    @property
    def token_total(self) -> int:
        return sum(self.tokens.values())


def tokens_for_chars(chars: int) -> int:
    """About four characters per token, as Google's tokenizer averages on English text."""
    return (chars + 3) // 4


def excerpt(text: str, words: int = EXCERPT_WORDS) -> str:
    parts = text.split()
    short = " ".join(parts[:words])
    return short + " …" if len(parts) > words else short


def read_prompt(contents: list[Json], system: Json | None = None, tools: list[Json] | None = None) -> Prompt:
    """Summarise contents (already read by `proto_json`); raises 400 on undecodable inline data."""
    prompt = Prompt()
    chars = 0
    media_tokens: dict[str, int] = {}
    last_user = _last_user_index(contents)
    for index, content in enumerate(contents):
        is_last_user = index == last_user
        texts: list[str] = []
        for part_index, part in enumerate(content.get("parts") or ()):
            text = part.get("text")
            if text is not None:
                chars += len(text)
                if is_last_user and not part.get("thought"):
                    texts.append(text)
                continue
            chars += _structured_chars(part)
            media = _media_of(part, f"contents[{index}].parts[{part_index}]")
            if media is not None:
                modality, description = media
                media_tokens[modality] = media_tokens.get(modality, 0) + MEDIA_TOKENS
                if is_last_user:
                    prompt.media.append(description)
            result = part.get("functionResponse")
            if is_last_user and result is not None:
                prompt.function_results.append((str(result.get("name", "")), result.get("response")))
        if is_last_user:
            prompt.text = "\n".join(texts)
    if system:
        prompt.system = "\n".join(p["text"] for p in system.get("parts") or () if p.get("text"))
        chars += len(prompt.system)
    if tools:
        chars += len(orjson.dumps(tools))
    if chars:
        prompt.tokens["TEXT"] = tokens_for_chars(chars)
    prompt.tokens.update(media_tokens)
    return prompt


def _last_user_index(contents: list[Json]) -> int:
    for index in range(len(contents) - 1, -1, -1):
        if contents[index].get("role") != "model":
            return index
    return -1


def _structured_chars(part: Json) -> int:
    for name in ("functionCall", "functionResponse", "executableCode", "codeExecutionResult"):
        value = part.get(name)
        if value is not None:
            return len(orjson.dumps(value))
    return 0


def _modality(mime: str) -> str:
    kind = mime.partition("/")[0]
    return {"image": "IMAGE", "audio": "AUDIO", "video": "VIDEO"}.get(kind, "DOCUMENT")


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _media_of(part: Json, path: str) -> tuple[str, str] | None:
    blob = part.get("inlineData")
    if blob is not None:
        mime = str(blob.get("mimeType") or "application/octet-stream")
        size = len(decode_bytes(blob.get("data") or "", f"{path}.inline_data.data"))
        return _modality(mime), f"{_article(mime)} {mime} of {size} bytes"
    file = part.get("fileData")
    if file is not None:
        mime = str(file.get("mimeType") or "application/octet-stream")
        return _modality(mime), f"a file {mime} at {file.get('fileUri')}"
    return None


def decode_bytes(value: str, path: str) -> bytes:
    """A proto3 JSON `bytes` field: standard or URL-safe base64, padding optional."""
    padded = value + "=" * (-len(value) % 4)
    try:
        if "-" in value or "_" in value:
            padded = padded.replace("-", "+").replace("_", "/")
        return binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError):
        shown = value[:40]
        raise invalid_json(
            f"Invalid value at '{path}' (TYPE_BYTES), Base64 decoding failed for \"{shown}\"", path
        ) from None
