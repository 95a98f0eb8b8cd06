"""Vertex AI in express mode on the fake: the same generation engine under Vertex's URL shape.

Express mode has no project or location in the path: `POST /v1/publishers/google/models/{model}:
generateContent` (also `:streamGenerateContent`, `:countTokens`, and the same under `/v1beta1`),
with the express key as `?key=` or `x-goog-api-key`. Vertex's countTokens takes the system
instruction, tools and generation config at its top level and knows no `generateContentRequest`
(`vertex_count_body`). Each such call is also logged in
`state.projects.vertex_calls`, so tests can tell it from a Gemini API call.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson

from gemini_gateway.fake_upstream.asgi import Scope
from gemini_gateway.fake_upstream.files import header
from gemini_gateway.fake_upstream.projects import VertexCall
from gemini_gateway.fake_upstream.proto_json import (
    CONTENT,
    GENERATION_CONFIG,
    TOOL,
    Message,
    many,
    one,
    parse_body,
)
from gemini_gateway.fake_upstream.state import FakeState

VERTEX_PREFIXES = ("/v1/publishers/", "/v1beta1/publishers/")
VERTEX_RPCS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
_MODELS = "publishers/google/models/"
VERTEX_COUNT_TOKENS_REQUEST = Message("CountTokensRequest").define(
    "model",
    contents=many(CONTENT),
    systemInstruction=one(CONTENT),
    tools=many(TOOL),
    generationConfig=one(GENERATION_CONFIG),
)


def vertex_route(state: FakeState, scope: Scope) -> tuple[str, str]:
    """(api version, `models/{model}:{rpc}`) for the fake's model routes; an empty rest is a 404."""
    version, _, rest = scope["path"][1:].partition("/")
    if not rest.startswith(_MODELS):
        return "v1", ""
    target = rest[len(_MODELS) :]
    model, _, rpc = target.partition(":")
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope["query_string"] else {}
    in_header = header(scope, b"x-goog-api-key")
    state.projects.vertex_calls.append(
        VertexCall(in_header or query.get("key"), version, model, rpc, in_header is None and "key" in query)
    )
    # The engine answers as for `/v1`: express mode serves the same Gemini models and shapes.
    return "v1", f"models/{target}" if rpc in VERTEX_RPCS else ""


def vertex_count_body(body: bytes, model_id: str) -> bytes:
    """A Vertex countTokens body, checked as Vertex does (400 for fields it does not know, such as
    `generateContentRequest`), in the Gemini form the fake's engine reads."""
    request = parse_body(body, VERTEX_COUNT_TOKENS_REQUEST)
    extra: dict[str, Any] = {
        k: request[k] for k in ("systemInstruction", "tools", "generationConfig") if k in request
    }
    if not extra:
        return body
    inner: dict[str, Any] = {
        "model": f"models/{model_id}",
        "contents": request.get("contents") or [],
        **extra,
    }
    return orjson.dumps({"generateContentRequest": inner})
