"""Deterministic embeddings: unit vectors drawn from a hash of the text.

Dimension is `outputDimensionality` when given, else the model's default (3072 for
gemini-embedding-001 as Google uses, 768 for text-embedding-004). Same text and dimension, same
vector; different texts give nearly orthogonal vectors.
"""

from __future__ import annotations

import hashlib
import math
import sys
from array import array
from functools import lru_cache

from gemini_gateway.fake_upstream.errors import FakeApiError, Json
from gemini_gateway.fake_upstream.models import ModelInfo

MAX_DIMENSION = 3072


@lru_cache(maxsize=2048)
def embed_text(text: str, dimension: int) -> list[float]:
    raw = array("h", hashlib.shake_256(text.encode()).digest(2 * dimension))
    if sys.byteorder == "big":
        raw.byteswap()
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [round(v / norm, 7) for v in raw]


def embed_request(model: ModelInfo, request: Json, path: str) -> Json:
    """One EmbedContentRequest (already read by `proto_json`) to `{"values": [...]}`."""
    content = request.get("content")
    if not content:
        raise FakeApiError(400, f"* {path}.content: content is required.\n")
    text = "\n".join(p["text"] for p in content.get("parts") or () if p.get("text") is not None)
    title = request.get("title")
    if title:
        text = f"{title}\n{text}"
    dimension = request.get("outputDimensionality") or model.embedding_dim
    if not isinstance(dimension, int) or not 1 <= dimension <= MAX_DIMENSION:
        raise FakeApiError(
            400, f"* {path}.output_dimensionality: must be between 1 and {MAX_DIMENSION}, got {dimension}.\n"
        )
    return {"values": embed_text(text, dimension)}
