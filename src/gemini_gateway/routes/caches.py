"""cachedContents routes as Google serves them under `/{v}/cachedContents` for v1beta and v1
(also under `/gemini`).

A cached content lives in the project of the credential that created it: creating one balances
like any call (unless its contents name an uploaded file, which binds it to the file's owner);
get, patch and delete go to its owner; listing merges every credential's caches.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.affinity.resources import (
    CACHES_SCOPE,
    affinity_of,
    decode_object,
    list_merged,
    on_credential,
    on_owner,
    resource_credentials,
)
from gemini_gateway.backends.base import ResourceReply
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import GatewayError, RequestError
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.resource_names import api_version, model_id, resource_id
from gemini_gateway.routes.asgi import (
    JSON_HEADERS,
    ASGIEndpoint,
    Receive,
    Scope,
    Send,
    gateway_headers,
    parse_json_object,
    read_body,
    send_response,
)
from gemini_gateway.routes.errors import send_error
from gemini_gateway.routes.gemini import check_tools
from gemini_gateway.timestamps import rfc3339_seconds

_FORWARDED_PATCH_QUERY = ("updateMask", "update_mask")


def _query(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


async def _answer(send: Send, exchange: Exchange, status: int, body: bytes, content_type: str) -> None:
    exchange.status = status
    await send_response(
        send, status, body, gateway_headers(exchange, [(b"content-type", content_type.encode())])
    )


async def _remember(gateway: Gateway, reply: ResourceReply, client_id: str | None) -> None:
    cache = decode_object(reply.body)
    if isinstance(cache.get("name"), str):
        await affinity_of(gateway).owners.remember(
            cache["name"],
            reply.credential_id,
            expires_at=rfc3339_seconds(cache.get("expireTime")),
            client_id=client_id,
        )


async def collection(scope: Scope, receive: Receive, send: Send) -> None:
    """POST (create) and GET (list) /v1beta/cachedContents."""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = "gemini", scope["path"]
    try:
        client = gateway.auth.client(scope)
        exchange.client_id = client.id
        if scope["method"] == "GET":
            page = await list_merged(
                gateway,
                exchange,
                method="cachedContents.list",
                scope_model=CACHES_SCOPE,
                path=f"{api_version(scope['path'])}/cachedContents",
                items_key="cachedContents",
                expiry_key="expireTime",
                query=_query(scope),
                default_size=10,
                max_size=1000,
            )
            exchange.status = 200
            await send_response(send, 200, orjson.dumps(page), gateway_headers(exchange, JSON_HEADERS))
            return
        body = await read_body(receive, gateway.settings.max_request_bytes)
        request = parse_json_object(body)
        check_tools(request)
        model = request.get("model")
        if not isinstance(model, str) or not model:
            raise RequestError("* CreateCachedContentRequest.cached_content.model: model is required")
        exchange.model = model_id(model)
        client.check_model(exchange.model)
        resource_credentials(gateway, "cachedContents.create")  # a clear 501 without API keys
        # The real model is the quota scope: creating a cache spends that model's token quota.
        reply = await on_credential(
            gateway,
            exchange,
            "cachedContents.create",
            exchange.model,
            "POST",
            f"{api_version(scope['path'])}/cachedContents",
            allowed=None,
            body=body,
        )
        await _remember(gateway, reply, client.id)
        await _answer(send, exchange, reply.status, reply.body, reply.content_type)
    except GatewayError as exc:
        await send_error(send, exc, "gemini", exchange)


async def one_cache(scope: Scope, receive: Receive, send: Send) -> None:
    """GET, PATCH (expiration only) and DELETE /v1beta/cachedContents/{id}, on its owner."""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = "gemini", scope["path"]
    try:
        client = gateway.auth.client(scope)
        exchange.client_id = client.id
        cache_id = scope["path_params"]["cache_id"]
        if not cache_id or ":" in cache_id:
            raise RequestError(f"method '{cache_id}' is not found", status_code=404)
        name = f"cachedContents/{resource_id('cachedContents', cache_id)}"
        verb = scope["method"]
        method = {"GET": "cachedContents.get", "PATCH": "cachedContents.patch"}.get(
            verb, "cachedContents.delete"
        )
        body = await read_body(receive, gateway.settings.max_request_bytes) if verb == "PATCH" else b""
        query = _query(scope)
        params = {k: query[k] for k in _FORWARDED_PATCH_QUERY if k in query} if verb == "PATCH" else None
        version = api_version(scope["path"])
        reply = await on_owner(
            gateway,
            exchange,
            name,
            method,
            CACHES_SCOPE,
            verb,
            f"{version}/{name}",
            params=params,
            body=body,
            version=version,
        )
        if verb == "DELETE":
            await affinity_of(gateway).owners.forget(name)
        elif verb == "PATCH":
            await _remember(gateway, reply, client.id)  # the new expireTime
        await _answer(send, exchange, reply.status, reply.body, reply.content_type)
    except GatewayError as exc:
        await send_error(send, exc, "gemini", exchange)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            table += [
                Route(
                    f"{prefix}/{version}/cachedContents", ASGIEndpoint(collection), methods=["GET", "POST"]
                ),
                Route(
                    f"{prefix}/{version}/cachedContents/{{cache_id}}",
                    ASGIEndpoint(one_cache),
                    methods=["GET", "PATCH", "DELETE"],
                ),
            ]
    return table
