"""POST /v1/embeddings -> batchEmbedContents, and back.

Gemini embeds text only and takes ~100 inputs per batch call, so one OpenAI request can become
several batch bodies (`EmbeddingsCall.batches`); the answers are rendered together, in order.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from gemini_gateway.dialects.common import JSON, ParamError, opt_int, opt_str, req_str
from gemini_gateway.dialects.generation import apply_model_suffixes, strip_model_prefix
from gemini_gateway.errors import GatewayError

BATCH_LIMIT: Final = 100
MAX_INPUTS: Final = 2048


@dataclass(slots=True)
class EmbeddingsCall:
    model: str
    client_model: str
    batches: list[JSON]  # batchEmbedContents bodies, send each and render the answers in order
    encoding: Literal["float", "base64"]
    count: int


def parse_embeddings_request(
    body: object, *, aliases: Mapping[str, str] | None = None, suffixes: bool = True
) -> EmbeddingsCall:
    if not isinstance(body, dict):
        raise ParamError(None, "the request body must be a JSON object")
    client_model = strip_model_prefix(req_str(body, "model"))
    model, _ = apply_model_suffixes(client_model, {}, aliases, suffixes=suffixes)
    texts = _inputs(body.get("input"))
    dimensions = opt_int(body, "dimensions", minimum=1)
    raw_encoding = opt_str(body, "encoding_format") or "float"
    if raw_encoding not in ("float", "base64"):
        raise ParamError("encoding_format", f"expected float or base64, got {raw_encoding!r}")
    encoding: Literal["float", "base64"] = "base64" if raw_encoding == "base64" else "float"
    requests = []
    for text in texts:
        item: JSON = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            item["outputDimensionality"] = dimensions
        requests.append(item)
    batches = [{"requests": requests[i : i + BATCH_LIMIT]} for i in range(0, len(requests), BATCH_LIMIT)]
    return EmbeddingsCall(model, client_model, batches, encoding, len(texts))


def _inputs(value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ParamError("input", "expected a non-empty string or array of strings")
    if all(isinstance(i, int) for i in items) or all(isinstance(i, list) for i in items):
        raise ParamError("input", "token arrays are not supported: Gemini embeds text, send strings")
    if len(items) > MAX_INPUTS:
        raise ParamError("input", f"at most {MAX_INPUTS} inputs per request, got {len(items)}")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ParamError(f"input[{i}]", f"expected a string, got {type(item).__name__}")
        if not item:
            raise ParamError(f"input[{i}]", "must not be empty")
    return items


def render_embeddings_response(answers: Sequence[JSON], call: EmbeddingsCall) -> JSON:
    vectors = [e.get("values") or [] for a in answers for e in a.get("embeddings") or ()]
    if len(vectors) != call.count:
        raise GatewayError(
            f"upstream returned {len(vectors)} embeddings for {call.count} inputs", status_code=502
        )
    tokens = sum(int((a.get("usageMetadata") or {}).get("promptTokenCount") or 0) for a in answers)
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v) if call.encoding == "base64" else v}
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": call.client_model,
        # batchEmbedContents reports no token counts; zero rather than a guess.
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _encode(values: list[float]) -> str:
    """OpenAI's base64 encoding: the float32 vector's little-endian bytes."""
    packed = array("f", values)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode()
