"""cachedContents routes as Google serves them under `/{v}/cachedContents` for v1beta and v1
(also under `/gemini`).

A cached content lives in the project of the credential that created it: creating one balances
like any call (unless its contents name an uploaded file, which binds it to the file's owner);
get, patch and delete go to its owner; listing merges every credential's caches.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gemini_gateway.affinity.resources import (
    CACHES_SCOPE,
    affinity_of,
    decode_object,
)
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import ResourceReply
from gemini_gateway.context import Gateway
from gemini_gateway.errors import RequestError
from gemini_gateway.exchange import Exchange
from gemini_gateway.resource_names import api_version, model_id, resource_id
from gemini_gateway.routes.asgi import Receive, Scope, Send, parse_json_object, read_body
from gemini_gateway.routes.gemini import check_tools
from gemini_gateway.routes.owned import (
    answer,
    answer_json,
    create_balanced,
    forwarded,
    gemini_route,
    merged_page,
    on_named,
)
from gemini_gateway.timestamps import rfc3339_seconds

_FORWARDED_PATCH_QUERY = ("updateMask", "update_mask")


async def _remember(gateway: Gateway, reply: ResourceReply, client_id: str | None) -> None:
    cache = decode_object(reply.body)
    if isinstance(cache.get("name"), str):
        await affinity_of(gateway).owners.remember(
            cache["name"],
            reply.credential_id,
            expires_at=rfc3339_seconds(cache.get("expireTime")),
            client_id=client_id,
        )


async def collection(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """POST (create) and GET (list) /v1beta/cachedContents."""
    if scope["method"] == "GET":
        await answer_json(
            send, exchange, await merged_page(gateway, exchange, scope, "cachedContents", CACHES_SCOPE, 1000)
        )
        return
    body = await read_body(receive, gateway.settings.max_request_bytes)
    request = parse_json_object(body)
    check_tools(request)
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("* CreateCachedContentRequest.cached_content.model: model is required")
    exchange.model = model_id(model)
    client.check_model(exchange.model)
    # The real model is the quota scope: creating a cache spends that model's token quota.
    path = f"{api_version(scope['path'])}/cachedContents"
    reply = await create_balanced(gateway, exchange, "cachedContents.create", exchange.model, path, body)
    await _remember(gateway, reply, client.id)
    await answer(send, exchange, reply)


async def one_cache(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, receive: Receive, send: Send
) -> None:
    """GET, PATCH (expiration only) and DELETE /v1beta/cachedContents/{id}, on its owner."""
    cache_id = scope["path_params"]["cache_id"]
    if not cache_id or ":" in cache_id:
        raise RequestError(f"method '{cache_id}' is not found", status_code=404)
    name = f"cachedContents/{resource_id('cachedContents', cache_id)}"
    patching = scope["method"] == "PATCH"
    reply = await on_named(
        gateway,
        exchange,
        scope,
        name,
        "cachedContents",
        CACHES_SCOPE,
        params=forwarded(scope, _FORWARDED_PATCH_QUERY) if patching else None,
        body=await read_body(receive, gateway.settings.max_request_bytes) if patching else b"",
    )
    if patching:
        await _remember(gateway, reply, client.id)  # the new expireTime
    await answer(send, exchange, reply)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            table += [
                gemini_route(f"{prefix}/{version}/cachedContents", collection, "GET", "POST"),
                gemini_route(
                    f"{prefix}/{version}/cachedContents/{{cache_id}}", one_cache, "GET", "PATCH", "DELETE"
                ),
            ]
    return table
