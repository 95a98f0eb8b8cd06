"""Gemini-native routes: `/v1beta`, `/v1` and `/gemini/v1beta`, passed through to the pool; model
calls also in Vertex AI express mode's shape (`/v1/publishers/google/models/...`, `/v1beta1/...`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import MODEL_METHODS, UpstreamCall
from gemini_gateway.backends.vertex import gemini_count_body
from gemini_gateway.coalesce import marking_last
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import (
    GatewayError,
    RequestError,
    google_error_body,
    render_google_error,
)
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.resource_names import api_version, model_id
from gemini_gateway.routes.asgi import (
    JSON_HEADERS,
    ASGIEndpoint,
    DisconnectGuard,
    Receive,
    Scope,
    Send,
    parse_json_object,
    read_body,
    send_response,
)
from gemini_gateway.routes.keepalive import GEMINI_PING, keepalive_seconds, opened, paced
from gemini_gateway.sse import frame

log = logging.getLogger("gemini_gateway.routes")
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
FORWARDED_LIST_PARAMS = ("pageSize", "pageToken")


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def gateway_headers(exchange: Exchange, base: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    headers = list(base)
    headers.append((b"x-gateway-overhead-ms", f"{exchange.overhead_ms():.3f}".encode()))
    if exchange.credential:
        headers.append((b"x-gateway-credential", exchange.credential.encode()))
    return headers


async def send_google_error(send: Send, exc: GatewayError, exchange: Exchange) -> None:
    exchange.status, exchange.error = exc.status_code, exc.message
    headers = gateway_headers(exchange, JSON_HEADERS)
    headers.extend((k.encode(), v.encode()) for k, v in exc.headers().items())
    await send_response(send, exc.status_code, render_google_error(exc), headers)


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


async def model_call(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /{version}/models/{model}:{method}"""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = "gemini", scope["path"]
    guard: DisconnectGuard | None = None
    try:
        client = gateway.auth.client(scope)
        exchange.client_id = client.id
        model, method = parse_target(scope["path_params"]["target"])
        model = model_id(model)
        client.check_model(model)
        exchange.model = model
        body = await read_body(receive, gateway.settings.max_request_bytes)
        if method == "countTokens" and "/publishers/" in scope["path"]:
            body = gemini_count_body(body, model)  # Vertex's shape
        _check_shape(method, parse_json_object(body))
        call = UpstreamCall(method=method, model=model, body=body, api_version=api_version(scope["path"]))
        guard = DisconnectGuard(receive)
        if call.stream:
            exchange.stream = True
            sse = _query(scope).get("alt") == "sse"
            every = keepalive_seconds(gateway.settings, scope["path"]) if sse else 0.0
            await _relay_stream(gateway, call, exchange, send, sse, every)
        else:
            reply = await gateway.dispatcher.unary(call, exchange)
            exchange.status = reply.status
            headers = gateway_headers(exchange, [(b"content-type", reply.content_type.encode())])
            await send_response(send, reply.status, reply.body, headers)
    except GatewayError as exc:
        await send_google_error(send, exc, exchange)
    except asyncio.CancelledError:
        if guard is None or not guard.absorb():
            raise
        exchange.status, exchange.error = 499, "client disconnected"
    finally:
        if guard is not None:
            guard.stop()


async def _relay_stream(
    gateway: Gateway, call: UpstreamCall, exchange: Exchange, send: Send, sse: bool, every: float = 0.0
) -> None:
    started = False

    async def start() -> None:
        nonlocal started
        if not started:
            started = True
            exchange.status = 200
            exchange.first_byte_ms = exchange.overhead_ms() + exchange.upstream_ms
            headers = gateway_headers(exchange, SSE_HEADERS if sse else JSON_HEADERS)
            await send({"type": "http.response.start", "status": 200, "headers": headers})

    async def ping() -> None:
        await start()
        await send({"type": "http.response.body", "body": GEMINI_PING, "more_body": True})

    try:
        if every:  # SSE keep-alive (routes.keepalive): the start goes out with the first ping
            groups = paced(await opened(gateway.dispatcher.stream(call, exchange), every, ping), every)
        else:
            groups = await gateway.dispatcher.stream(call, exchange)
    except GatewayError as exc:
        if not started:
            raise
        await _send_stream_error(send, exc, exchange, sse)
        return
    await start()
    try:
        async with aclosing(groups):  # released at once, however the relay ends
            await _send_events(groups, send, sse)
    except GatewayError as exc:
        await _send_stream_error(send, exc, exchange, sse)


async def _send_stream_error(send: Send, exc: GatewayError, exchange: Exchange, sse: bool) -> None:
    """Bytes already reached the client, so the status cannot change: the error goes as the last
    element, and the body ends without completing, so the client sees a broken stream."""
    exchange.error = exc.message
    error = google_error_body(exc.status_code, exc.message, exc.google_status)
    body = frame(error) if sse else b",\r\n" + error + b"]"
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _send_events(groups: AsyncIterator[list[bytes]], send: Send, sse: bool) -> None:
    """SSE events, or the elements of one JSON array, a write per group that arrived together
    (see Dispatcher.stream); the body's end goes with the last group when it is known by then."""
    opening, separator = (b"", b"") if sse else (b"[", b",\r\n")
    ending = b"" if sse else b"]"
    # Closed at once on any way out: a cancelled send may leave the next read started inside it.
    async with aclosing(marking_last(groups)) as marked:
        async for group, last in marked:
            if not group:  # a keep-alive's turn (routes.keepalive)
                await send({"type": "http.response.body", "body": GEMINI_PING, "more_body": True})
                continue
            if sse:
                body = b"".join(frame(payload) for payload in group)
            else:
                body = opening + separator.join(group)
                opening = separator
            if last:
                await send({"type": "http.response.body", "body": body + ending})
                return
            await send({"type": "http.response.body", "body": body, "more_body": True})
    await send({"type": "http.response.body", "body": ending})  # the end came later than the last group


async def list_models(scope: Scope, receive: Receive, send: Send) -> None:
    """GET /{version}/models and /{version}/models/{model}"""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = "gemini", scope["path"]
    try:
        exchange.client_id = gateway.auth.client(scope).id
        path_params = scope["path_params"]
        model = path_params.get("target") or path_params.get("model")
        model = model_id(model) if model else None
        query = _query(scope)
        params = {k: query[k] for k in FORWARDED_LIST_PARAMS if k in query}
        call = UpstreamCall(
            method="models.get" if model else "models.list",
            model=model,
            api_version=api_version(scope["path"]),
            params=params,
        )
        reply = await gateway.dispatcher.unary(call, exchange)
        exchange.status = reply.status
        await send_response(send, reply.status, reply.body, gateway_headers(exchange, JSON_HEADERS))
    except GatewayError as exc:
        await send_google_error(send, exc, exchange)


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
