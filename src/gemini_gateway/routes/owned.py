"""What the routes of project-bound resources share (batches, File Search stores, interactions,
long-running operations): the handler frame, the query, the answer.

A resource named in a path (`batches/x`, `fileSearchStores/y/documents/z`) lives in the project
of the credential that created it; `affinity.resources.on_owner` sends the call there, finding
that credential first (and remembering it) when the gateway never saw the resource created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from gemini_gateway.backends.base import ResourceReply
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.errors import GatewayError
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.routes.asgi import Receive, Scope, Send, gateway_headers, send_response
from gemini_gateway.routes.errors import send_error

Handler = Callable[[Gateway, Exchange, Scope, Receive, Send], Awaitable[None]]


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
            exchange.client_id = gateway.auth.client(scope).id
            await handle(gateway, exchange, scope, receive, send)
        except GatewayError as exc:
            await send_error(send, exc, "gemini", exchange)

    endpoint.__name__ = handle.__name__
    endpoint.__doc__ = handle.__doc__
    return endpoint
