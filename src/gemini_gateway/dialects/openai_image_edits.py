"""POST /v1/images/edits (multipart/form-data) -> an image-output Gemini model's generateContent.

The form's `image` (or `image[]`, several) and optional `mask` go in as inline image parts
before the prompt; `model`, `n`, `size` and `response_format` mean what they mean for
/v1/images/generations (see `openai_images`), one generateContent per image. Imagen's edit
models are Vertex-only, so an `imagen-*` model is refused here. Pure: no I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from gemini_gateway.dialects.common import ParamError
from gemini_gateway.dialects.openai_images import ImagesCall, parse_images_request

_IMAGE_FIELDS = ("image", "image[]")
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
_TEXT_FIELDS = ("prompt", "model", "n", "size", "response_format", "output_format", "quality", "user")


def parse_form(body: bytes, content_type: str) -> tuple[dict[str, str], list[tuple[str, bytes, str]]]:
    """A multipart/form-data body -> (text fields, files as (field, bytes, mime type))."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise ParamError(None, "images/edits takes multipart/form-data with the image file(s) and a prompt")
    message = BytesParser(policy=HTTP).parsebytes(
        b"content-type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ParamError(None, "the multipart/form-data body could not be read")
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes, str]] = []
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        payload = data if isinstance(data, bytes) else b""
        if part.get_filename() is not None:
            files.append((name, payload, sniff_mime(payload, part.get_content_type())))
        else:
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields, files


def sniff_mime(data: bytes, declared: str) -> str:
    """The image type from its first bytes (clients often send application/octet-stream)."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return declared


def parse_edit_request(
    fields: Mapping[str, str],
    files: list[tuple[str, bytes, str]],
    *,
    aliases: Mapping[str, str] | None = None,
    suffixes: bool = True,
) -> ImagesCall:
    body: dict[str, object] = {k: fields[k] for k in _TEXT_FIELDS if k in fields}
    if "n" in body:
        try:
            body["n"] = int(str(body["n"]))
        except ValueError:
            raise ParamError("n", f"expected an integer, got {body['n']!r}") from None
    call = parse_images_request(body, aliases=aliases, suffixes=suffixes)
    if call.method != "generateContent":
        raise ParamError("model", f"{call.model} cannot edit images here; use a Gemini image model")
    images = [(data, mime) for name, data, mime in files if name in _IMAGE_FIELDS]
    if not images:
        raise ParamError("image", "at least one image file is required")
    for data, mime in images:
        if not mime.startswith("image/") or not data:
            raise ParamError("image", f"expected a PNG, JPEG or WEBP image, got {mime}")
    mask = [(data, mime) for name, data, mime in files if name == "mask"]
    parts: list[dict[str, object]] = [
        {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}} for data, mime in images
    ]
    prompt = str(fields.get("prompt", ""))
    if mask:
        data, mime = mask[0]
        parts.append({"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}})
        # Gemini has no mask input: the mask goes as one more image, and the prompt says so.
        prompt += "\n(The last image is a mask: change only where it is transparent.)"
    parts.append({"text": prompt})
    call.request["contents"] = [{"role": "user", "parts": parts}]
    return call
