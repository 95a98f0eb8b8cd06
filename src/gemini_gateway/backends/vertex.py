"""Vertex AI in express mode: express API keys in the same pool, Vertex's URL shape.

Express mode has no project or location in the path:

    POST {base}/v1/publishers/google/models/{model}:generateContent
    POST {base}/v1/publishers/google/models/{model}:streamGenerateContent?alt=sse
    POST {base}/v1/publishers/google/models/{model}:countTokens

(the same under `v1beta1`, which the gateway uses for calls that came in on Gemini's `v1beta`).
The key travels in the `x-goog-api-key` header, which is what the google-genai SDK sends for
Vertex with an API key; Google's REST samples put it in `?key=`, which the gateway avoids so a
key never sits in a URL that could be logged. Bodies are Gemini's wire format on both sides, so
everything but the URL is the API-key backend's; the one difference is countTokens, where Vertex
takes the request fields at the top level instead of inside `generateContentRequest`.

Clients of Vertex's shape (google-genai with `vertexai=True`) may call the gateway too: the routes
under `/v1/publishers/google/models` and `/v1beta1/...` take their calls, and `gemini_count_body`
folds Vertex's top-level countTokens fields back into Gemini's form for whichever credential serves.

Express mode serves only these three methods: no model listing, embeddings, Files API or cached
contents, so the pool never hands a Vertex key a call it cannot make (`supports`).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import orjson

from gemini_gateway.backends.api_key import ApiKeyBackend
from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import model_segment

VERTEX_METHODS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
_COUNT_FIELDS = (
    ("contents", "contents"),
    ("systemInstruction", "system_instruction"),
    ("tools", "tools"),
    ("generationConfig", "generation_config"),
)


class VertexExpressBackend(ApiKeyBackend):
    kind: ClassVar[str] = "vertex"

    def supports(self, method: str) -> bool:
        return method in VERTEX_METHODS

    def url(self, call: UpstreamCall) -> str:
        version = "v1beta1" if call.api_version == "v1beta" else "v1"
        model = model_segment(call.model)
        url = f"{self.base_url}/{version}/publishers/google/models/{model}:{call.method}"
        return url + "?alt=sse" if call.stream else url

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        return await super().unary(_vertex_body(call), credential)


def _vertex_body(call: UpstreamCall) -> UpstreamCall:
    """countTokens with `generateContentRequest` (Gemini's form) -> Vertex's top-level fields."""
    if call.method != "countTokens" or b"enerate" not in call.body:
        return call
    try:
        body = orjson.loads(call.body)
    except orjson.JSONDecodeError:
        return call  # Vertex reports the broken body itself
    if not isinstance(body, dict):
        return call
    inner = body.get("generateContentRequest") or body.get("generate_content_request")
    if not isinstance(inner, dict):
        return call
    flat = {camel: inner.get(camel, inner.get(snake)) for camel, snake in _COUNT_FIELDS}
    flat = {name: value for name, value in flat.items() if value is not None}
    return dataclasses.replace(call, body=orjson.dumps(flat))


def gemini_count_body(body: bytes, model: str) -> bytes:
    """Vertex's countTokens (system instruction, tools, config at the top) -> Gemini's form, where
    only `contents` may stand alone and the rest rides in `generateContentRequest`."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body  # the upstream reports the broken body itself
    if not isinstance(request, dict):
        return body
    extra = {
        camel: request[key] for camel, snake in _COUNT_FIELDS[1:] for key in (camel, snake) if key in request
    }
    if not extra:
        return body
    inner = {"model": f"models/{model}", "contents": request.get("contents") or [], **extra}
    return orjson.dumps({"generateContentRequest": inner})
