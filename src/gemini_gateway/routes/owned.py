"""What the routes of project-bound resources share (batches, File Search stores, interactions,
long-running operations): the handler frame, the query, the answer, and the calls they have alike
(get / cancel / delete of a long-running resource, a listing merged over every key).

A resource named in a path (`batches/x`, `fileSearchStores/y/documents/z`) lives in the project
of the credential that created it; `affinity.resources.on_owner` sends the call there, finding
that credential first (and remembering it) when the gateway never saw the resource created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.affinity.resources import (
    affinity_of,
    list_merged,
    on_credential,
    on_owner,
    resource_credentials,
)
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import ResourceReply
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import GatewayError
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.resource_names import api_version, model_id
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

# The client is authenticated once, by `gemini_endpoint`: a second `auth.client` would count the
# request twice against the token's rate limit.
Handler = Callable[[Gateway, Exchange, ClientIdentity, Scope, Receive, Send], Awaitable[None]]


def query_of(scope: Scope) -> dict[str, str]:
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def forwarded(scope: Scope, names: tuple[str, ...]) -> dict[str, str]:
    """The query parameters named in `names` that the client sent (never a key)."""
    query = query_of(scope)
    return {name: query[name] for name in names if name in query}


async def answer(send: Send, exchange: Exchange, reply: ResourceReply) -> None:
    exchange.status = reply.status
    headers = gateway_headers(exchange, [(b"content-type", reply.content_type.encode())])
    await send_response(send, reply.status, reply.body, headers)


def gemini_endpoint(handle: Handler) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A Gemini-native ASGI endpoint: the client authenticated, errors in Google's envelope."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        gateway = gateway_of(scope)
        exchange = get_exchange(scope)
        exchange.dialect, exchange.route = "gemini", scope["path"]
        try:
            client = gateway.auth.client(scope)
            exchange.client_id = client.id
            await handle(gateway, exchange, client, scope, receive, send)
        except GatewayError as exc:
            await send_error(send, exc, "gemini", exchange)

    endpoint.__name__ = handle.__name__
    endpoint.__doc__ = handle.__doc__
    return endpoint


def gemini_route(path: str, handle: Handler, *methods: str) -> Route:
    return Route(path, ASGIEndpoint(gemini_endpoint(handle)), methods=list(methods))


async def create_balanced(
    gateway: Gateway, exchange: Exchange, method: str, scope_model: str, path: str, body: bytes
) -> ResourceReply:
    """POST `path`, creating a resource: it balances like any call (or is bound by the dispatcher's
    binder when the body names a file of one key). A clear 501 first when no key has the API."""
    resource_credentials(gateway, method)
    return await on_credential(gateway, exchange, method, scope_model, "POST", path, allowed=None, body=body)


Learn = Callable[[Gateway, ResourceReply, str | None], Awaitable[None]]
# Checks a start call's JSON body (given the rpc it names) before any key is spent on it.
CheckStart = Callable[[str, dict[str, Any]], None]


def _any_body(rpc: str, request: dict[str, Any]) -> None:
    """Any JSON object starts the resource: Google checks the rest."""


async def start_long_running(
    gateway: Gateway,
    exchange: Exchange,
    client: ClientIdentity,
    scope: Scope,
    receive: Receive,
    send: Send,
    method: str,
    own_scope: str | None,
    learn: Learn,
    check: CheckStart = _any_body,
) -> None:
    """POST /{v}/models/{model}:{rpc} that starts a long-running resource (a batch, an operation):
    it balances like any call (or is bound by the dispatcher's binder when the body names a file
    of one key), and the answer teaches which key holds what it names (`learn`). Cooldowns are
    kept under `own_scope`, or the model's own when None (the call spends the model's quota)."""
    model = model_id(scope["path_params"]["model"])
    rpc = scope["path"].rpartition(":")[2]
    client.check_model(model)
    exchange.model = model
    body = await read_body(receive, gateway.settings.max_request_bytes)
    check(rpc, parse_json_object(body))  # a clear 400 for a body that is no JSON object
    path = f"{api_version(scope['path'])}/models/{model}:{rpc}"
    reply = await create_balanced(gateway, exchange, method, own_scope or model, path, body)
    await learn(gateway, reply, client.id)
    await answer(send, exchange, reply)


async def on_named(
    gateway: Gateway,
    exchange: Exchange,
    scope: Scope,
    name: str,
    family: str,
    scope_model: str,
    *,
    cancel: bool = False,
    params: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> ResourceReply:
    """The request's GET, PATCH or DELETE of `name` (or POST `{name}:cancel`) on the key that holds
    it, as the rpc `family.get` / `.patch` / `.delete` / `.cancel`; a DELETE forgets the owner."""
    version = api_version(scope["path"])
    verb = scope["method"]
    reply = await on_owner(
        gateway,
        exchange,
        name,
        f"{family}.{'cancel' if cancel else verb.lower()}",
        scope_model,
        verb,
        f"{version}/{name}:cancel" if cancel else f"{version}/{name}",
        params=params,
        body=b"{}" if cancel else body,
        version=version,
    )
    if verb == "DELETE":
        await affinity_of(gateway).owners.forget(name)
    return reply


async def long_running_call(
    gateway: Gateway,
    exchange: Exchange,
    scope: Scope,
    send: Send,
    name: str,
    family: str,
    scope_model: str,
    learn: Learn,
) -> None:
    """GET, DELETE and POST `{name}:cancel` of a long-running resource (a batch, an operation) on
    the key that started it. A GET teaches what the answer names (`learn`)."""
    reply = await on_named(
        gateway, exchange, scope, name, family, scope_model, cancel=scope["method"] == "POST"
    )
    if scope["method"] == "GET":
        await learn(gateway, reply, exchange.client_id)
    await answer(send, exchange, reply)


def long_running_routes(collection_root: str, id_param: str, handle: Handler) -> list[BaseRoute]:
    """The routes `long_running_call` answers for one collection: POST `{root}/{id}:cancel`, GET
    and DELETE `{root}/{id}`. Cancel comes first: a path parameter matches any text but "/", so
    the plain route would take `x:cancel` for an id."""
    one = f"{collection_root}/{{{id_param}}}"
    return [
        gemini_route(f"{one}:cancel", handle, "POST"),
        gemini_route(one, handle, "GET", "DELETE"),
    ]


async def merged_page(
    gateway: Gateway,
    exchange: Exchange,
    scope: Scope,
    collection: str,
    scope_model: str,
    max_size: int,
    *,
    items_key: str | None = None,
    expiry_key: str = "expireTime",
) -> dict[str, Any]:
    """GET /{v}/{collection}: every credential's items as one paged list (`collection.list`)."""
    return await list_merged(
        gateway,
        exchange,
        method=f"{collection}.list",
        scope_model=scope_model,
        path=f"{api_version(scope['path'])}/{collection}",
        items_key=items_key or collection,
        expiry_key=expiry_key,
        query=query_of(scope),
        default_size=10,
        max_size=max_size,
    )


async def merged_list(
    gateway: Gateway,
    exchange: Exchange,
    scope: Scope,
    send: Send,
    collection: str,
    scope_model: str,
    max_size: int,
    *,
    items_key: str | None = None,
) -> None:
    """`merged_page`, answered."""
    page = await merged_page(gateway, exchange, scope, collection, scope_model, max_size, items_key=items_key)
    await answer(send, exchange, ResourceReply(200, orjson.dumps(page), {}))


async def answer_json(send: Send, exchange: Exchange, payload: Any) -> None:
    """A page the gateway made, as Google sends JSON."""
    exchange.status = 200
    await send_response(send, 200, orjson.dumps(payload), gateway_headers(exchange, JSON_HEADERS))
