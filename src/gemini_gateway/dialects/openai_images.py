"""POST /v1/images/generations -> Imagen `:predict` or an image-output Gemini model.

Imagen makes `n` images in one call (`sampleCount`); Gemini image models make one per call, so
for them the handler sends the same request `call.calls` times and renders the answers together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from gemini_gateway.dialects.common import (
    JSON,
    ParamError,
    candidates_of,
    opt_int,
    opt_str,
    parts_of,
    req_str,
)
from gemini_gateway.dialects.generation import apply_model_suffixes, strip_model_prefix
from gemini_gateway.errors import RequestError

# Gemini API's image models; OpenAI model names (dall-e-*, gpt-image-*) are served by the default.
DEFAULT_IMAGE_MODEL: Final = "gemini-2.5-flash-image"
_OPENAI_MODELS: Final = ("dall-e", "gpt-image")
_IMAGEN_RATIOS: Final = ("1:1", "3:4", "4:3", "9:16", "16:9")
_GEMINI_RATIOS: Final = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_SIZE = re.compile(r"(\d+)x(\d+)")
_OUTPUT_MIME: Final = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}


@dataclass(slots=True)
class ImagesCall:
    model: str
    method: str  # "predict" (Imagen) or "generateContent"
    request: JSON
    calls: int  # how many times to send `request`
    as_url: bool  # client asked response_format=url: answer data URLs


def parse_images_request(
    body: object,
    *,
    default_model: str = DEFAULT_IMAGE_MODEL,
    aliases: Mapping[str, str] | None = None,
    suffixes: bool = True,
) -> ImagesCall:
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    prompt = req_str(body, "prompt")
    raw_model = strip_model_prefix(opt_str(body, "model") or default_model)
    if raw_model.startswith(_OPENAI_MODELS):
        raw_model = default_model
    model, _ = apply_model_suffixes(raw_model, {}, aliases, suffixes=suffixes)
    n = opt_int(body, "n", minimum=1, maximum=10)
    size = opt_str(body, "size")
    fmt = opt_str(body, "response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise ParamError("response_format", f"expected b64_json or url, got {fmt!r}")
    output = opt_str(body, "output_format")
    if output is not None and output not in _OUTPUT_MIME:
        raise ParamError("output_format", f"expected png, jpeg or webp, got {output!r}")
    if model.startswith("imagen"):
        parameters: JSON = {}
        if n is not None:
            parameters["sampleCount"] = n
        if ratio := aspect_ratio(size, _IMAGEN_RATIOS):
            parameters["aspectRatio"] = ratio
        if output is not None:
            parameters["outputOptions"] = {"mimeType": _OUTPUT_MIME[output]}
        request: JSON = {"instances": [{"prompt": prompt}], "parameters": parameters}
        return ImagesCall(model, "predict", request, 1, fmt == "url")
    config: JSON = {"responseModalities": ["TEXT", "IMAGE"]}
    if ratio := aspect_ratio(size, _GEMINI_RATIOS):
        config["imageConfig"] = {"aspectRatio": ratio}
    request = {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig": config}
    return ImagesCall(model, "generateContent", request, n or 1, fmt == "url")


def aspect_ratio(size: str | None, supported: Sequence[str]) -> str | None:
    """OpenAI `size` ("1536x1024") -> the closest aspect ratio the model supports ("3:2")."""
    if size is None or size == "auto":
        return None
    match = _SIZE.fullmatch(size)
    if match is None or not int(match[1]) or not int(match[2]):
        raise ParamError("size", f"expected WIDTHxHEIGHT or auto, got {size!r}")
    wanted = int(match[1]) / int(match[2])

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(int(w) / int(h) - wanted)

    return min(supported, key=distance)


def render_images_response(answers: Sequence[JSON], call: ImagesCall, *, created: int) -> JSON:
    images: list[tuple[str, str]] = []  # (mime, base64)
    filtered: list[str] = []
    for answer in answers:
        for prediction in answer.get("predictions") or ():
            if prediction.get("bytesBase64Encoded"):
                images.append((prediction.get("mimeType", "image/png"), prediction["bytesBase64Encoded"]))
            elif prediction.get("raiFilteredReason"):
                filtered.append(str(prediction["raiFilteredReason"]))
        for candidate in candidates_of(answer):
            for part in parts_of(candidate):
                blob = part.get("inlineData")
                if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("image/"):
                    images.append((blob["mimeType"], blob.get("data", "")))
            if candidate.get("finishReason") not in (None, "STOP"):
                filtered.append(str(candidate["finishReason"]))
    if not images:
        why = "; ".join(filtered) or "the model answered without an image"
        raise RequestError(f"No image was generated: {why}", status_code=400)
    key = "url" if call.as_url else "b64_json"
    data = [{key: f"data:{mime};base64,{b64}" if call.as_url else b64} for mime, b64 in images]
    return {"created": created, "data": data}
