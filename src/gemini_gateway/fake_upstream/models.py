"""The model catalog the fake serves, with list pages and Model objects rendered once."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from gemini_gateway.fake_upstream.errors import FakeApiError, Json

Kind = Literal["text", "embedding", "imagen", "tts", "image", "video"]

_CHAT = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")
_EMBED = ("embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    display_name: str
    version: str
    description: str
    input_limit: int
    output_limit: int
    methods: tuple[str, ...]
    kind: Kind = "text"
    thinking: bool = False
    temperature: float | None = 1.0
    max_temperature: float | None = 2.0
    top_p: float | None = 0.95
    top_k: int | None = 64
    embedding_dim: int = 0  # default outputDimensionality of embedding models

    @property
    def is_gemini3(self) -> bool:
        return "gemini-3" in self.id

    def supports(self, method: str) -> bool:
        # batchEmbedContents is not listed by Google but works wherever embedContent does.
        return method in self.methods or (method == "batchEmbedContents" and "embedContent" in self.methods)

    def to_json(self) -> Json:
        data: Json = {
            "name": f"models/{self.id}",
            "baseModelId": self.id,
            "version": self.version,
            "displayName": self.display_name,
            "description": self.description,
            "inputTokenLimit": self.input_limit,
            "outputTokenLimit": self.output_limit,
            "supportedGenerationMethods": list(self.methods),
        }
        optional: dict[str, Any] = {
            "temperature": self.temperature,
            "topP": self.top_p,
            "topK": self.top_k,
            "maxTemperature": self.max_temperature,
        }
        data.update({k: v for k, v in optional.items() if v is not None})
        if self.thinking:
            data["thinking"] = True
        return data


def _gemini(model_id: str, name: str, version: str, description: str, **extra: Any) -> ModelInfo:
    extra.setdefault("methods", _CHAT)
    extra.setdefault("input_limit", 1_048_576)
    extra.setdefault("output_limit", 65_536)
    return ModelInfo(model_id, name, version, description, **extra)


_NO_SAMPLING: dict[str, Any] = {"temperature": None, "max_temperature": None, "top_p": None, "top_k": None}

CATALOG: tuple[ModelInfo, ...] = (
    _gemini("gemini-2.5-flash", "Gemini 2.5 Flash", "001",
            "Stable version of Gemini 2.5 Flash, our mid-size multimodal model that supports up to "
            "1 million tokens, released in June of 2025.", thinking=True),
    _gemini("gemini-2.5-pro", "Gemini 2.5 Pro", "2.5",
            "Stable release (June 17th, 2025) of Gemini 2.5 Pro", thinking=True),
    _gemini("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite", "001",
            "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025", thinking=True),
    _gemini("gemini-2.0-flash", "Gemini 2.0 Flash", "2.0", "Gemini 2.0 Flash",
            output_limit=8192, top_k=40),
    _gemini("gemini-2.0-flash-lite", "Gemini 2.0 Flash-Lite", "2.0", "Gemini 2.0 Flash-Lite",
            output_limit=8192, top_k=40),
    _gemini("gemini-3-pro-preview", "Gemini 3 Pro Preview", "3-pro-preview-11-2025",
            "Gemini 3 Pro Preview", thinking=True),
    _gemini("gemini-3-flash-preview", "Gemini 3 Flash Preview", "3-flash-preview-12-2025",
            "Gemini 3 Flash Preview", thinking=True),
    _gemini("gemini-flash-latest", "Gemini Flash Latest", "Gemini Flash Latest",
            "Latest release of Gemini Flash", thinking=True),
    _gemini("gemini-2.5-flash-preview-tts", "Gemini 2.5 Flash Preview TTS",
            "gemini-2.5-flash-exp-tts-2025-05-19", "Gemini 2.5 Flash Preview TTS",
            kind="tts", input_limit=8192, output_limit=16_384, methods=("countTokens", "generateContent")),
    _gemini("gemini-2.5-flash-image", "Nano Banana", "2.0",
            "Gemini 2.5 Flash Image", kind="image", input_limit=32_768, output_limit=32_768,
            methods=("generateContent", "countTokens", "batchGenerateContent")),
    ModelInfo("gemini-embedding-001", "Gemini Embedding 001", "001",
              "Obtain a distributed representation of a text.", 2048, 1, _EMBED,
              kind="embedding", embedding_dim=3072, **_NO_SAMPLING),
    ModelInfo("text-embedding-004", "Text Embedding 004", "004",
              "Obtain a distributed representation of a text.", 2048, 1, ("embedContent",),
              kind="embedding", embedding_dim=768, **_NO_SAMPLING),
    ModelInfo("imagen-4.0-generate-001", "Imagen 4", "001",
              "Vertex served Imagen 4.0 model", 480, 8192, ("predict",), kind="imagen", **_NO_SAMPLING),
    ModelInfo("veo-3.0-generate-001", "Veo 3", "3.0", "Veo 3: videos from a prompt (a long-running operation).",
              1024, 8192, ("predictLongRunning",), kind="video", **_NO_SAMPLING),
)  # fmt: skip

MODELS: dict[str, ModelInfo] = {m.id: m for m in CATALOG}
# GET models/{id} answers never change: render them once.
MODEL_BODIES: dict[str, bytes] = {
    m.id: orjson.dumps(m.to_json(), option=orjson.OPT_INDENT_2) for m in CATALOG
}


def find_model(model_id: str) -> ModelInfo | None:
    return MODELS.get(model_id.removeprefix("models/"))


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _page_offset(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        name, _, number = text.partition(":")
        if name == "offset" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise FakeApiError(400, "Invalid page token.")


def list_models_body(page_size: str | None, page_token: str | None) -> bytes:
    """One page of ListModels, `pageSize` clamped to Google's maximum and 0 meaning the default."""
    try:
        size = int(page_size) if page_size else 0
    except ValueError:
        raise FakeApiError(400, f"Invalid value at 'page_size' (TYPE_INT32), \"{page_size}\"") from None
    if size < 0:
        raise FakeApiError(400, "page_size must not be negative")
    size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    offset = _page_offset(page_token) if page_token else 0
    page: Json = {"models": [m.to_json() for m in CATALOG[offset : offset + size]]}
    if offset + size < len(CATALOG):
        page["nextPageToken"] = _page_token(offset + size)
    return orjson.dumps(page, option=orjson.OPT_INDENT_2)
