"""The request flow every translated dialect shares: auth, body, disconnects, errors, streams.

A dialect handler supplies only what differs: how to turn the parsed body into upstream calls
and how to render answers and errors. Errors before the first byte get the dialect's envelope
and status; errors after it become the dialect's error event and a broken connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.coalesce import marking_last
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.dialects.common import ParamError
from gemini_gateway.dialects.media import RemoteImage, substitute_remote_images
from gemini_gateway.errors import GatewayError, RequestError
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.remote_media import fetch_all
from gemini_gateway.resource_names import bare_model_id
from gemini_gateway.routes.asgi import DisconnectGuard, Receive, Scope, Send, parse_json_object, read_body
from gemini_gateway.routes.gemini import gateway_headers
from gemini_gateway.routes.keepalive import keepalive_seconds, opened, paced

ErrorRenderer = Callable[[GatewayError], tuple[int, bytes]]
JSON_TYPE = [(b"content-type", b"application/json")]
SSE_TYPE = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


@dataclass(slots=True)
class DialectRequest:
    gateway: Gateway
    exchange: Exchange
    scope: Scope
    send: Send
    body: dict[str, Any]
    client: ClientIdentity
    started: bool = field(default=False, init=False)  # the response's start went out

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

    async def stream_answer(
        self,
        call: UpstreamCall,
        translate: Callable[[dict[str, Any]], Iterable[bytes]],
        finish: Callable[[], Iterable[bytes]],
        error_event: Callable[[GatewayError], bytes],
        ping: bytes,
    ) -> None:
        """Open the stream of `call` and relay it (`answer_stream`), with `ping` as the keep-alive
        where the route has one (routes.keepalive)."""
        dispatcher = self.gateway.dispatcher
        every = keepalive_seconds(self.gateway.settings, self.scope["path"])
        if not every:
            groups = await dispatcher.stream(call, self.exchange)
            await self.answer_stream(groups, translate, finish, error_event)
            return

        async def idle() -> None:
            await self._start_stream()
            await self.send({"type": "http.response.body", "body": ping, "more_body": True})

        try:
            groups = await opened(dispatcher.stream(call, self.exchange), every, idle)
        except GatewayError as exc:
            if not self.started:
                raise
            self.exchange.error = exc.message
            await self.send({"type": "http.response.body", "body": error_event(exc), "more_body": True})
            return
        await self.answer_stream(paced(groups, every), translate, finish, error_event, ping)

    async def _start_stream(self) -> None:
        if not self.started:
            self.started = True
            self.exchange.status = 200
            self.exchange.first_byte_ms = self.exchange.overhead_ms() + self.exchange.upstream_ms
            headers = gateway_headers(self.exchange, SSE_TYPE)
            await self.send({"type": "http.response.start", "status": 200, "headers": headers})

    async def answer_stream(
        self,
        groups: AsyncGenerator[list[bytes], None],
        translate: Callable[[dict[str, Any]], Iterable[bytes]],
        finish: Callable[[], Iterable[bytes]],
        error_event: Callable[[GatewayError], bytes],
        ping: bytes = b"",
    ) -> None:
        """Relay canonical events, in the groups they arrived in, through a stream translator as SSE;
        an empty group is a keep-alive's turn (`ping`)."""
        await self._start_stream()
        send = self.send
        try:
            # One write per group of events that arrived together (see Dispatcher.stream), the
            # last with the stream's tail when the end is known by then. Closed at once on any way
            # out (which closes `groups`): a cancelled send may leave the next read started inside.
            async with aclosing(marking_last(groups)) as marked:
                async for group, last in marked:
                    if not group:
                        await send({"type": "http.response.body", "body": ping, "more_body": True})
                        continue
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
    render_error: ErrorRenderer,
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
        guard = DisconnectGuard(receive)
        await handle(DialectRequest(gateway, exchange, scope, send, body, client))
    except GatewayError as exc:
        await send_dialect_error(send, exchange, exc, render_error)
    except asyncio.CancelledError:
        if guard is None or not guard.absorb():
            raise
        exchange.status, exchange.error = 499, "client disconnected"
    finally:
        if guard is not None:
            guard.stop()


async def send_dialect_error(
    send: Send, exchange: Exchange, exc: GatewayError, render_error: ErrorRenderer
) -> None:
    status, body = render_error(exc)
    exchange.status, exchange.error = status, exc.message
    headers = gateway_headers(exchange, JSON_TYPE)
    headers.extend((k.encode(), v.encode()) for k, v in exc.headers().items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def decode_answer(body: bytes) -> dict[str, Any]:
    """An upstream success body as JSON; a non-JSON one is the upstream's fault, not the client's."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError("the upstream answered with something that is not JSON", status_code=502) from None
    if not isinstance(data, dict):
        raise GatewayError("the upstream answered with an unexpected JSON shape", status_code=502)
    return data
