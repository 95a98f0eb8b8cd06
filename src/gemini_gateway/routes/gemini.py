"""Gemini-native routes: `/v1beta`, `/v1` and `/gemini/v1beta`, passed through to the pool; model
calls also in Vertex AI express mode's shape (`/v1/publishers/google/models/...`, `/v1beta1/...`)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import MODEL_METHODS, UpstreamCall, UpstreamReply
from gemini_gateway.backends.vertex import gemini_count_body
from gemini_gateway.errors import (
    GatewayError,
    RequestError,
    google_error_body,
)
from gemini_gateway.model_catalog import all_models, listing_kinds, models_page, one_model
from gemini_gateway.resource_names import api_version, model_id
from gemini_gateway.routes.asgi import (
    JSON_HEADERS,
    ASGIEndpoint,
    Headers,
    Receive,
    Scope,
    Send,
    parse_json_object,
)
from gemini_gateway.routes.dialect_flow import (
    Answer,
    Dialect,
    DialectRequest,
    Generate,
    StreamRelay,
    run_dialect,
)
from gemini_gateway.routes.keepalive import GEMINI_PING
from gemini_gateway.sse import frame, frames

log = logging.getLogger("gemini_gateway.routes")
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
# Query parameters of models.list, as Google reads them: the JSON name or the proto field name.
FORWARDED_LIST_PARAMS = {
    "pageSize": "pageSize",
    "page_size": "pageSize",
    "pageToken": "pageToken",
    "page_token": "pageToken",
}


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def _check_shape(method: str, body: dict[str, Any]) -> None:
    """The few shape checks Google makes before a model runs; everything else the upstream judges."""
    if method in ("generateContent", "streamGenerateContent"):
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise RequestError("* GenerateContentRequest.contents: contents is not specified")
        if not all(isinstance(c, dict) for c in contents):
            raise RequestError("Invalid JSON payload received. 'contents' must be a list of Content objects.")
        check_tools(body)
    elif method == "countTokens":
        if not isinstance(body.get("contents", []), list):
            raise RequestError("Invalid JSON payload received. 'contents' must be a list.")
        check_tools(body)
    elif method == "embedContent":
        if not isinstance(body.get("content"), dict):
            raise RequestError("* EmbedContentRequest.content: content is not specified")
    elif method == "batchEmbedContents":
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise RequestError("* BatchEmbedContentsRequest.requests: requests is not specified")


def check_tools(body: dict[str, Any]) -> None:
    """`tools` as Google's protos read it: a list of Tool objects, each one's declarations a list.

    Google refuses anything else with a 400 too; refusing it here also keeps the shape that the
    recorder reads tool names from well-formed.
    """
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        raise RequestError(
            "Invalid JSON payload received. Invalid value at 'tools': expected a list of Tool objects."
        )
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise RequestError(
                f"Invalid JSON payload received. Invalid value at 'tools[{i}]': expected a Tool object."
            )
        for key in ("functionDeclarations", "function_declarations"):
            declarations = tool.get(key)
            if declarations is not None and not isinstance(declarations, list):
                raise RequestError(
                    f"Invalid JSON payload received. Invalid value at 'tools[{i}].function_declarations':"
                    " expected a list of FunctionDeclaration objects."
                )


def parse_target(target: str) -> tuple[str, str]:
    model, sep, method = target.rpartition(":")
    if not sep or not model or method not in MODEL_METHODS:
        raise RequestError(f"method '{target}' is not found", status_code=404)
    return model, method


async def _parse_native(request: DialectRequest) -> tuple[UpstreamCall, Scope]:
    """The identity dialect's parse: check the target and the body's shape, forward the bytes."""
    scope = request.scope
    model, method = parse_target(scope["path_params"]["target"])
    model = model_id(model)
    request.client.check_model(model)
    request.exchange.model = model
    body = await request.read()
    if method == "countTokens" and "/publishers/" in scope["path"]:
        body = gemini_count_body(body, model)  # Vertex's shape
    _check_shape(method, parse_json_object(body))
    return UpstreamCall(method=method, model=model, body=body, api_version=api_version(scope["path"])), scope


def _render_native(reply: UpstreamReply, scope: Scope) -> Answer:
    """The identity dialect's answer: the upstream's, as it came."""
    return reply.status, [(b"content-type", reply.content_type.encode())], reply.body


class GoogleSSE:
    """Google's events as SSE (`?alt=sse`), relayed as they came."""

    __slots__ = ()
    headers: ClassVar[Headers] = SSE_HEADERS
    ping = GEMINI_PING

    def events(self, group: list[bytes]) -> bytes:
        return frames(group)

    def end(self) -> bytes:
        return b""

    def error(self, exc: GatewayError) -> bytes:
        return frame(google_error_body(exc.status_code, exc.message, exc.google_status))


class GoogleJSONArray:
    """Google's events as the elements of one JSON array (no `alt=sse`), relayed as they came."""

    __slots__ = ("opening",)
    headers: ClassVar[Headers] = JSON_HEADERS
    ping = b""  # not SSE: a JSON array has no place for one

    def __init__(self) -> None:
        self.opening = b"["

    def events(self, group: list[bytes]) -> bytes:
        body = self.opening + b",\r\n".join(group)
        self.opening = b",\r\n"
        return body

    def end(self) -> bytes:
        return b"]"

    def error(self, exc: GatewayError) -> bytes:
        return b",\r\n" + google_error_body(exc.status_code, exc.message, exc.google_status) + b"]"


_GOOGLE_SSE = GoogleSSE()


def _relay_native(scope: Scope) -> StreamRelay:
    """The identity dialect's stream: the upstream's events, framed as the client asked."""
    # `alt=sse` alone is what SDKs send: known without parsing the query.
    sse = scope.get("query_string") == b"alt=sse" or _query(scope).get("alt") == "sse"
    return _GOOGLE_SSE if sse else GoogleJSONArray()


GEMINI = Dialect("gemini", "gemini")
# POST /{version}/models/{model}:{method}
model_call = Generate(GEMINI, _parse_native, _render_native, _relay_native)


async def list_models(scope: Scope, receive: Receive, send: Send) -> None:
    """GET /{version}/models and /{version}/models/{model}"""
    await run_dialect(scope, receive, send, GEMINI, _list_models)


async def _list_models(request: DialectRequest) -> None:
    """One kind of credential in the pool: its list, paged by the upstream. Several kinds: the
    union of their lists (model_catalog), paged here."""
    gateway, exchange = request.gateway, request.exchange
    path_params = request.scope["path_params"]
    model = path_params.get("target") or path_params.get("model")
    version = api_version(request.scope["path"])
    if model:
        reply = await one_model(gateway, exchange, model_id(model), version)
        await request.answer(reply.status, JSON_HEADERS, reply.body)
        return
    query = _query(request.scope)
    params = {FORWARDED_LIST_PARAMS[k]: v for k, v in query.items() if k in FORWARDED_LIST_PARAMS}
    kinds = listing_kinds(gateway)
    if len(kinds) <= 1:
        allowed = kinds[0][1] if kinds else None
        call = UpstreamCall("models.list", api_version=version, params=params, allowed=allowed)
        reply = await gateway.dispatcher.unary(call, exchange)
        await request.answer(reply.status, JSON_HEADERS, reply.body)
        return
    models = await all_models(gateway, exchange, version)
    page = models_page(models, params.get("pageSize"), params.get("pageToken"))
    await request.answer(200, JSON_HEADERS, orjson.dumps(page))


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("/v1beta", "/v1", "/gemini/v1beta", "/gemini/v1"):
        table += [
            Route(f"{prefix}/models/{{target}}", ASGIEndpoint(model_call), methods=["POST"]),
            Route(f"{prefix}/models/{{target}}", ASGIEndpoint(list_models), methods=["GET"]),
            Route(f"{prefix}/models", ASGIEndpoint(list_models), methods=["GET"]),
        ]
    # Vertex AI express mode's shape, for google-genai with vertexai=True pointed at the gateway.
    for version in ("v1", "v1beta1"):
        route = f"/{version}/publishers/google/models/{{target}}"
        table.append(Route(route, ASGIEndpoint(model_call), methods=["POST"]))
    return table
