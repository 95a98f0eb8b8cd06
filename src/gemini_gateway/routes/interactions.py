"""Interactions routes as google-genai calls them, under `/{v}/interactions` for v1beta and v1
(also under `/gemini`):

    POST   /{v}/interactions                 create; SSE when the body says `"stream": true`
    GET    /{v}/interactions/{id}            get; `?stream=true&last_event_id=E` resumes the events
    DELETE /{v}/interactions/{id}            delete
    POST   /{v}/interactions/{id}/cancel     cancel a background interaction

Affinity: an interaction lives in the project of the key that created it (another key gets 403),
so the gateway remembers the creating credential (the store's `resource_owners` table, under
`interactions/{id}`) and sends every call naming it there: a get or poll, a cancel, a delete, a
stream resume, and a create whose `previous_interaction_id` continues it. A new conversation
balances like any call. When the owner cannot serve now the client hears it at once (429 with
Retry-After while it cools down) instead of a 403 from a key that never had the interaction.
Only the Gemini Developer API has interactions, so only API-key credentials serve them.

Streams are relayed as they arrive, bytes unchanged (Google's own `event:` / `data:` framing and
its `data: [DONE]`), never buffered; the events are only read on the side, to learn the new
interaction's id before the client can see it and to record the exchange.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.affinity.binder import check_ready
from gemini_gateway.affinity.refs import interaction_names
from gemini_gateway.affinity.resources import (
    affinity_of,
    decode_object,
    on_credential,
    on_owner,
    owner_credential,
    pinned,
)
from gemini_gateway.affinity.upstream import resource_stream
from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import ResourceStream, UpstreamCall
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import GatewayError, RequestError, StreamCut, interactions_code
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.pool.credential import Credential
from gemini_gateway.resource_names import api_version, model_id, resource_id, scope_of
from gemini_gateway.routes.asgi import (
    ASGIEndpoint,
    DisconnectGuard,
    Receive,
    Scope,
    Send,
    gateway_headers,
    parse_json_object,
    read_body,
)
from gemini_gateway.routes.errors import send_error
from gemini_gateway.routes.owned import answer, forwarded
from gemini_gateway.sse import SSEParser

INTERACTIONS_SCOPE = "interactions"  # quota scope of get / cancel / delete: no model runs
# Google keeps stored interactions 55 days (paid tier; a day on the free tier); the owner row
# outlives neither by much, and a get of an expired one is answered 404 and forgotten.
RETENTION_SECONDS = 55 * 24 * 3600
# The query of a get, as the SDK sends it (it always sends `stream`).
_FORWARDED_GET_QUERY = ("stream", "last_event_id", "include_input")
_SSE = "text/event-stream"
T = TypeVar("T")

Handler = Callable[[Gateway, Exchange, ClientIdentity, Scope, bytes, Send], Awaitable[None]]


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


def interaction_name(interaction_id: str) -> str:
    """`interactions/{id}` for an id from a path or body; a 400 outside the grammar."""
    return f"interactions/{resource_id('interactions', interaction_id)}"


def able_credentials(gateway: Gateway) -> frozenset[str]:
    """Ids of the credentials that can hold interactions (API keys); a clear 501 without any."""
    backends = gateway.dispatcher.backends
    able = frozenset(
        c.id
        for c in gateway.pool
        if (backend := backends.get(c.kind)) is not None and backend.supports("interactions.create")
    )
    if not able:
        raise GatewayError(
            "the Interactions API is served by the Gemini Developer API only; the pool has no Gemini "
            "API keys (GEMINI_API_KEYS)",
            status_code=501,
        )
    return able


async def _remember(
    gateway: Gateway, interaction: dict[str, Any], credential_id: str, client: str | None
) -> None:
    ident = interaction.get("id")
    if isinstance(ident, str) and ident:
        await affinity_of(gateway).owners.remember(
            f"interactions/{ident}",
            credential_id,
            expires_at=time.time() + RETENTION_SECONDS,
            client_id=client,
        )


async def create(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, body: bytes, send: Send
) -> None:
    """POST /{v}/interactions: a new conversation balances; a follow-up goes to its owner."""
    request = parse_json_object(body)
    model, agent = request.get("model"), request.get("agent")
    if isinstance(model, str) and model:
        scope_model: str = model_id(model)  # the model's own quota: an interaction spends it
    elif isinstance(agent, str) and agent:
        scope_model = resource_id("agents", agent)
    else:
        raise RequestError("* CreateInteractionRequest: either model or agent is required")
    client.check_model(scope_model)  # a token limited to some models gets no agent outside them
    exchange.model = scope_model
    allowed = able_credentials(gateway)
    version = api_version(scope["path"])
    previous = request.get("previous_interaction_id")
    name: str | None = None
    owner: Credential | None = None
    if previous is not None and previous != "":
        if not isinstance(previous, str):
            raise RequestError("previous_interaction_id must be a string")
        name = interaction_name(previous)
        owner, _ = await owner_credential(gateway, exchange, name, INTERACTIONS_SCOPE, version=version)
        check_ready(owner, scope_model, name, gateway.pool.clock())  # the follow-up spends the model's quota
        allowed = frozenset({owner.id})
    allowed = await _with_named(gateway, request, scope_model, allowed, name)
    target = f"{version}/interactions"

    def bound(call: Awaitable[T]) -> Awaitable[T]:
        return call if name is None or owner is None else pinned(gateway, name, owner, scope_model, call)

    if _is_true(request.get("stream")):
        opened = await bound(
            _open(gateway, exchange, "interactions.create", scope_model, "POST", target, allowed, body=body)
        )
        await _relay(gateway, exchange, send, opened, client.id)
        return
    reply = await bound(
        on_credential(
            gateway, exchange, "interactions.create", scope_model, "POST", target, allowed=allowed, body=body
        )
    )
    if request.get("store") is not False:
        await _remember(gateway, decode_object(reply.body), reply.credential_id, client.id)
    await answer(send, exchange, reply)


async def _with_named(
    gateway: Gateway, request: dict[str, Any], scope_model: str, allowed: frozenset[str], previous: str | None
) -> frozenset[str]:
    """`allowed` narrowed to the project holding what the interaction names: the File Search
    stores of its tools and the files of its input live in one project, and only that key may
    run it (another gets 403). A 400 when they, or the conversation it continues, live apart."""
    named = interaction_names(request)
    holders = await affinity_of(gateway).pin(named, scope_model)
    if holders is None:
        return allowed
    narrowed = allowed & holders
    if not narrowed:
        listed = ", ".join(sorted(named | ({previous} if previous else set())))
        raise RequestError(
            f"this interaction names {listed}, which were created with different upstream credentials; "
            "each exists only in its own project, so no single call can use them all"
        )
    return narrowed


async def one(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, body: bytes, send: Send
) -> None:
    """GET (also as an event stream) and DELETE /{v}/interactions/{id}, on its owner."""
    name = interaction_name(scope["path_params"]["interaction_id"])
    version = api_version(scope["path"])
    path = f"{version}/{name}"
    if scope["method"] == "DELETE":
        reply = await on_owner(
            gateway,
            exchange,
            name,
            "interactions.delete",
            INTERACTIONS_SCOPE,
            "DELETE",
            path,
            version=version,
        )
        await affinity_of(gateway).owners.forget(name)
        await answer(send, exchange, reply)
        return
    params = forwarded(scope, _FORWARDED_GET_QUERY)
    if _is_true(params.get("stream")):
        owner, _ = await owner_credential(gateway, exchange, name, INTERACTIONS_SCOPE, version=version)
        call = _open(
            gateway,
            exchange,
            "interactions.get",
            INTERACTIONS_SCOPE,
            "GET",
            path,
            frozenset({owner.id}),
            params=params,
        )
        opened = await pinned(gateway, name, owner, INTERACTIONS_SCOPE, call)
        await _relay(gateway, exchange, send, opened, client.id)
        return
    reply = await on_owner(
        gateway,
        exchange,
        name,
        "interactions.get",
        INTERACTIONS_SCOPE,
        "GET",
        path,
        params=params,
        version=version,
    )
    await answer(send, exchange, reply)


async def cancel(
    gateway: Gateway, exchange: Exchange, client: ClientIdentity, scope: Scope, body: bytes, send: Send
) -> None:
    """POST /{v}/interactions/{id}/cancel, on its owner (the SDK sends no body; none is passed on)."""
    name = interaction_name(scope["path_params"]["interaction_id"])
    version = api_version(scope["path"])
    reply = await on_owner(
        gateway,
        exchange,
        name,
        "interactions.cancel",
        INTERACTIONS_SCOPE,
        "POST",
        f"{version}/{name}/cancel",
        version=version,
    )
    await answer(send, exchange, reply)


async def _open(
    gateway: Gateway,
    exchange: Exchange,
    method: str,
    scope_model: str,
    verb: str,
    target: str,
    allowed: frozenset[str],
    *,
    body: bytes = b"",
    params: dict[str, str] | None = None,
) -> ResourceStream:
    """Open an event stream on the first credential that accepts it (failover until then)."""
    call = UpstreamCall(method, model=scope_of(scope_model), body=body, allowed=allowed)
    return await gateway.dispatcher.run(
        call,
        exchange,
        lambda backend, credential: resource_stream(
            backend, credential, verb, target, params=params, body=body or None, headers={"accept": _SSE}
        ),
    )


async def _relay(
    gateway: Gateway, exchange: Exchange, send: Send, opened: ResourceStream, client: str | None
) -> None:
    """Pass the upstream's body on write by write, as it arrives; learn the new interaction's owner
    from its `interaction.created` event before that event reaches the client."""
    exchange.stream = True
    exchange.status = opened.status
    exchange.first_byte_ms = exchange.overhead_ms() + exchange.upstream_ms
    headers = gateway_headers(
        exchange, [(b"content-type", opened.content_type.encode()), (b"cache-control", b"no-cache")]
    )
    await send({"type": "http.response.start", "status": opened.status, "headers": headers})
    parser = SSEParser()
    tee = exchange.events
    learned = False
    try:
        async for chunk in opened.chunks():
            for payload in parser.feed(chunk):
                if not learned and payload.startswith(b"{") and b'"interaction.created"' in payload:
                    event = decode_object(payload)
                    interaction = event.get("interaction")
                    if isinstance(interaction, dict):
                        await _remember(gateway, interaction, opened.credential_id, client)
                        learned = True
                if tee is not None:
                    tee.append(payload)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except StreamCut as exc:
        # Bytes already reached the client: end with an error event (as Google reports one
        # mid-stream) and leave the body incomplete, so the client sees a broken stream.
        exchange.error = exc.message
        # The Interactions API's error event: `error.code` is one of its string codes, as in its
        # error answers (google-genai's ErrorEvent types it as a string).
        error = {
            "event_type": "error",
            "error": {"code": interactions_code(exc.status_code), "message": exc.message},
        }
        frame = b"event: error\r\ndata: " + orjson.dumps(error) + b"\r\n\r\n"
        await send({"type": "http.response.body", "body": frame, "more_body": True})
    finally:
        opened.close()


def _endpoint(handler: Handler) -> ASGIEndpoint:
    """The handler with what every interactions route shares: the exchange, the Interactions API's
    error shape (a string code), and stopping upstream work the moment the client goes away."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        gateway = gateway_of(scope)
        exchange = get_exchange(scope)
        exchange.dialect, exchange.route = "gemini", scope["path"]
        guard: DisconnectGuard | None = None
        try:
            client = gateway.auth.client(scope)
            exchange.client_id = client.id
            body = await read_body(receive, gateway.settings.max_request_bytes)
            guard = DisconnectGuard(receive, scope)  # after the body: from here on receive only says "gone"
            await handler(gateway, exchange, client, scope, body, send)
        except GatewayError as exc:
            await send_error(send, exc, "interactions", exchange)
        except asyncio.CancelledError:
            if guard is None or not guard.absorb():
                raise
            exchange.status, exchange.error = 499, "client disconnected"
        finally:
            if guard is not None:
                guard.stop()

    return ASGIEndpoint(endpoint)


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in ("", "/gemini"):
        for version in ("v1beta", "v1"):
            base = f"{prefix}/{version}/interactions"
            table += [
                Route(base, _endpoint(create), methods=["POST"]),
                Route(f"{base}/{{interaction_id}}", _endpoint(one), methods=["GET", "DELETE"]),
                Route(f"{base}/{{interaction_id}}/cancel", _endpoint(cancel), methods=["POST"]),
            ]
    return table
