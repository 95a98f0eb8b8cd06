"""How a `GatewayError` reaches a client: status, headers and body, in the client's own dialect.

The one place errors are rendered, for the model routes, the exception handlers of the FastAPI
routes, the front door and the admin edge alike. The body shapes are the dialects' pure functions
(Google's envelope in errors.py, OpenAI's and Anthropic's in dialects/); the choice among them, the
status and the headers (`retry-after` when the pool knows when a credential frees up) are made here.

Errors met after the first byte of a stream are the dialects' own error events, not this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from starlette.responses import Response

from gemini_gateway.dialects.anthropic_errors import render_anthropic_error
from gemini_gateway.dialects.openai_errors import render_openai_error
from gemini_gateway.errors import GatewayError, render_google_error, render_interactions_error
from gemini_gateway.exchange import Exchange
from gemini_gateway.routes.asgi import JSON_HEADERS, Headers, Send, gateway_headers, send_response

# "interactions": Google's Interactions API, whose errors carry a string code (not google.rpc.Status).
Dialect = Literal["gemini", "interactions", "openai", "anthropic"]
_INTERACTIONS_PATH = re.compile(r"^(?:/gemini)?/v1(?:beta|alpha)?/interactions(?:/|$)")


def _google(exc: GatewayError) -> tuple[int, bytes]:
    return exc.status_code, render_google_error(exc)


def _interactions(exc: GatewayError) -> tuple[int, bytes]:
    return exc.status_code, render_interactions_error(exc)


_BODIES: dict[Dialect, Callable[[GatewayError], tuple[int, bytes]]] = {
    "gemini": _google,
    "interactions": _interactions,
    "openai": render_openai_error,
    "anthropic": render_anthropic_error,
}
_CONTENT_TYPES: dict[Dialect, Headers] = {
    "gemini": JSON_HEADERS,  # as Google sends its errors
    "interactions": JSON_HEADERS,
    "openai": [(b"content-type", b"application/json")],
    "anthropic": [(b"content-type", b"application/json")],
}


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    headers: Headers  # content-type, and retry-after when the error says when to come back
    body: bytes


def render_error(exc: GatewayError, dialect: Dialect) -> ErrorReply:
    status, body = _BODIES[dialect](exc)
    headers = [*_CONTENT_TYPES[dialect], *((k.encode(), v.encode()) for k, v in exc.headers().items())]
    return ErrorReply(status, headers, body)


def dialect_of_path(path: str) -> Dialect:
    """The dialect of a path no route took (an unknown route's 404 answers in the caller's dialect)."""
    if path.startswith("/anthropic/"):
        return "anthropic"
    if path.startswith(("/openai/", "/hf/")):
        return "openai"
    if _INTERACTIONS_PATH.match(path):
        return "interactions"
    return "gemini"


async def send_error(
    send: Send,
    exc: GatewayError,
    dialect: Dialect,
    exchange: Exchange | None = None,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Answer with the error; on a recorded call, note it on the exchange and add the gateway's headers."""
    reply = render_error(exc, dialect)
    headers = [*reply.headers, *extra_headers]
    if exchange is not None:
        exchange.status, exchange.error = reply.status, exc.message
        headers = gateway_headers(exchange, headers)
    await send_response(send, reply.status, reply.body, headers)


def error_response(exc: GatewayError, dialect: Dialect) -> Response:
    """The same answer as a Starlette response, for FastAPI's exception handlers."""
    reply = render_error(exc, dialect)
    return Response(reply.body, reply.status, headers={k.decode(): v.decode() for k, v in reply.headers})
