"""The request flow every translated dialect shares: auth, body, disconnects, errors, streams.

A dialect handler supplies only what differs: how to turn the parsed body into upstream calls
and how to render answers and errors. Errors before the first byte get the dialect's envelope
and status; errors after it become the dialect's error event and a broken connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson

from gemini_gateway.auth import ClientIdentity
from gemini_gateway.coalesce import marking_last
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.dialects.common import ParamError
from gemini_gateway.dialects.media import RemoteImage, substitute_remote_images
from gemini_gateway.errors import GatewayError, RequestError
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.remote_media import fetch_all
from gemini_gateway.resource_names import bare_model_id
from gemini_gateway.routes.asgi import (
    DisconnectGuard,
    Receive,
    Scope,
    Send,
    gateway_headers,
    parse_json_object,
    read_body,
)
from gemini_gateway.routes.errors import Dialect, send_error

JSON_TYPE = [(b"content-type", b"application/json")]
# The dialect a route is recorded under -> the envelope its errors come in.
ERROR_DIALECTS: dict[str, Dialect] = {
    "openai": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
}
SSE_TYPE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


@dataclass(slots=True)
class DialectRequest:
    gateway: Gateway
    exchange: Exchange
    scope: Scope
    send: Send
    body: dict[str, Any]
    client: ClientIdentity

    def note_dropped_tools(self, names: Sequence[str]) -> None:
        """Built-in tools the model could not take beside the client's functions: the answer says
        so in a header (which the record keeps)."""
        if names:
            self.exchange.dropped_tools = ",".join(names)

    def use_model(self, model: str) -> None:
        """Note the model for records, and refuse it if it is no model id or this client's token may
        not use it."""
        try:
            bare_model_id(model)
        except RequestError as exc:
            raise ParamError("model", exc.message) from None
        self.client.check_model(model)
        self.exchange.model = model

    async def inline_remote_media(
        self, request: dict[str, Any], images: Sequence[RemoteImage]
    ) -> dict[str, Any]:
        """Fetch http(s) images the client referenced and inline them (Gemini cannot fetch them)."""
        if not images:
            return request
        settings = self.gateway.settings
        assert self.gateway.transports is not None
        fetched = await fetch_all(
            self.gateway.transports.http,
            images,
            max_bytes=settings.media_fetch_max_bytes,
            allow_private=settings.allow_private_media_urls,
        )
        return substitute_remote_images(request, images, fetched)

    async def answer_json(self, payload: Any, status: int = 200) -> None:
        self.exchange.status = status
        headers = gateway_headers(self.exchange, JSON_TYPE)
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": orjson.dumps(payload)})

    async def answer_bytes(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.exchange.status = status
        headers = gateway_headers(self.exchange, [(b"content-type", content_type.encode())])
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def answer_stream(
        self,
        groups: AsyncGenerator[list[bytes], None],
        translate: Callable[[dict[str, Any]], Iterable[bytes]],
        finish: Callable[[], Iterable[bytes]],
        error_event: Callable[[GatewayError], bytes],
    ) -> None:
        """Relay canonical events, in the groups they arrived in, through a stream translator as SSE."""
        self.exchange.status = 200
        self.exchange.first_byte_ms = self.exchange.overhead_ms() + self.exchange.upstream_ms
        await self.send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": gateway_headers(self.exchange, SSE_TYPE),
            }
        )
        send = self.send
        try:
            # One write per group of events that arrived together (see Dispatcher.stream), the
            # last with the stream's tail when the end is known by then. Closed at once on any way
            # out (which closes `groups`): a cancelled send may leave the next read started inside.
            async with aclosing(marking_last(groups)) as marked:
                async for group, last in marked:
                    body = b"".join(chunk for payload in group for chunk in translate(orjson.loads(payload)))
                    if last:
                        await send({"type": "http.response.body", "body": body + b"".join(finish())})
                        return
                    if body:
                        await send({"type": "http.response.body", "body": body, "more_body": True})
        except GatewayError as exc:
            self.exchange.error = exc.message
            # End without completing the body: the client must see a broken stream, not a clean end.
            await send({"type": "http.response.body", "body": error_event(exc), "more_body": True})
            return
        tail = b"".join(finish())
        await send({"type": "http.response.body", "body": tail})


async def run_dialect(
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    dialect: str,
    handle: Callable[[DialectRequest], Awaitable[None]],
    parse: Callable[[bytes, Scope], dict[str, Any]] | None = None,
) -> None:
    """`parse` reads a body that is not a JSON object (images/edits' multipart form)."""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = dialect, scope["path"]
    guard: DisconnectGuard | None = None
    try:
        client = gateway.auth.client(scope)
        exchange.client_id = client.id
        raw = await read_body(receive, gateway.settings.max_request_bytes)
        body = parse_json_object(raw) if parse is None else parse(raw, scope)
        # Known before the body is judged, so a refused streaming request is recorded as one.
        exchange.stream = body.get("stream") is True
        guard = DisconnectGuard(receive)
        await handle(DialectRequest(gateway, exchange, scope, send, body, client))
    except GatewayError as exc:
        await send_error(send, exc, ERROR_DIALECTS[dialect], exchange)
    except asyncio.CancelledError:
        if guard is None or not guard.absorb():
            raise
        exchange.status, exchange.error = 499, "client disconnected"
    finally:
        if guard is not None:
            guard.stop()


def decode_answer(body: bytes) -> dict[str, Any]:
    """An upstream success body as JSON; a non-JSON one is the upstream's fault, not the client's."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError("the upstream answered with something that is not JSON", status_code=502) from None
    if not isinstance(data, dict):
        raise GatewayError("the upstream answered with an unexpected JSON shape", status_code=502)
    return data
