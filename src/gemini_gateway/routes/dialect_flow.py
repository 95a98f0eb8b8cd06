"""The one flow every model route shares: auth, body, disconnects, errors, answers, streams.

`run_dialect` is the frame: who asks, the caller's error envelope before the first byte, and a
client that goes away. `Generate` is the generate call inside it, in three steps a dialect
supplies: parse (the request into one upstream call and what answering needs), render (the
upstream's answer into the dialect's) and translate (the upstream's stream events into the
dialect's). The native Gemini route is the identity dialect: it checks the body and forwards its
bytes, and relays the upstream's bytes back as they came. Errors after the first byte become the
dialect's error event and a broken connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import orjson

from gemini_gateway.auth import ClientIdentity
from gemini_gateway.backends.base import UpstreamCall, UpstreamReply
from gemini_gateway.coalesce import abandon, resume, start_next
from gemini_gateway.context import Gateway, gateway_of
from gemini_gateway.dialects.common import ParamError, new_id
from gemini_gateway.dialects.generation import with_default_safety
from gemini_gateway.dialects.media import RemoteImage, substitute_remote_images
from gemini_gateway.errors import GatewayError, RequestError
from gemini_gateway.exchange import Exchange, get_exchange
from gemini_gateway.resource_names import ModelId, bare_model_id
from gemini_gateway.routes.asgi import (
    DisconnectGuard,
    Headers,
    Receive,
    Scope,
    Send,
    gateway_headers,
    parse_json_object,
    read_body,
)
from gemini_gateway.routes.errors import Dialect as ErrorDialect
from gemini_gateway.routes.errors import send_error
from gemini_gateway.routes.keepalive import keepalive_seconds, opened, paced

JSON = dict[str, Any]
JSON_TYPE: Headers = [(b"content-type", b"application/json")]
SSE_TYPE: Headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]

S = TypeVar("S")  # what a dialect's parse step hands its render and translate steps
C = TypeVar("C", bound="TranslatedCall")
Answer = tuple[int, Headers, bytes]  # status, content headers, body


@dataclass(frozen=True, slots=True)
class Dialect:
    """What every answer of a route's dialect shares: its name in records, the envelope of its
    errors (rendered in the one place errors are, routes/errors.py)."""

    name: str
    errors: ErrorDialect


class StreamRelay(Protocol):
    """How one stream's upstream events become the dialect's body, a write per group of events."""

    headers: ClassVar[Headers]
    # What the client skips, sent while the model is silent (routes.keepalive); b"": no keep-alive.
    ping: bytes

    def events(self, group: list[bytes]) -> bytes: ...

    def end(self) -> bytes: ...

    def error(self, exc: GatewayError) -> bytes: ...


@dataclass(slots=True)
class DialectRequest:
    gateway: Gateway
    exchange: Exchange
    scope: Scope
    receive: Receive
    send: Send
    client: ClientIdentity
    guard: DisconnectGuard | None = None
    started: bool = False  # whether the answer's head has gone out

    async def read(self) -> bytes:
        """The request body; from then on, a client that goes away cancels the handling at once."""
        body = await read_body(self.receive, self.gateway.settings.max_request_bytes)
        self.watch_disconnect()
        return body

    async def json(self) -> JSON:
        body = parse_json_object(await self.read())
        # Known before the body is judged, so a refused streaming request is recorded as one.
        self.exchange.stream = body.get("stream") is True
        return body

    def watch_disconnect(self) -> None:
        self.guard = DisconnectGuard(self.receive, self.scope)

    def note_dropped_tools(self, names: Sequence[str]) -> None:
        """Built-in tools the model could not take beside the client's functions: the answer says
        so in a header (which the record keeps)."""
        if names:
            self.exchange.dropped_tools = ",".join(names)

    def use_model(self, model: str) -> ModelId:
        """The model checked once for the whole call (the `UpstreamCall` carries it to the backend's
        URL): refused if it is no model id or this client's token may not use it; noted for records."""
        try:
            checked = bare_model_id(model)
        except RequestError as exc:
            raise ParamError("model", exc.message) from None
        self.client.check_model(checked)
        self.exchange.model = checked
        return checked

    async def inline_remote_media(self, request: JSON, images: Sequence[RemoteImage]) -> JSON:
        """Fetch http(s) images the client referenced and inline them (Gemini cannot fetch them)."""
        if not images:
            return request
        from gemini_gateway.remote_media import fetch_all  # it brings aiohttp (transport.lazy)

        settings = self.gateway.settings
        assert self.gateway.transports is not None
        fetched = await fetch_all(
            self.gateway.transports.http.made(),
            images,
            max_bytes=settings.media_fetch_max_bytes,
            allow_private=settings.allow_private_media_urls,
        )
        return substitute_remote_images(request, images, fetched)

    async def answer(self, status: int, content: Headers, body: bytes) -> None:
        self.exchange.status = status
        headers = gateway_headers(self.exchange, content)
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    async def answer_json(self, payload: Any, status: int = 200) -> None:
        await self.answer(status, JSON_TYPE, orjson.dumps(payload))

    async def answer_bytes(self, body: bytes, content_type: str, status: int = 200) -> None:
        await self.answer(status, [(b"content-type", content_type.encode())], body)

    async def stream(self, call: UpstreamCall, relay: StreamRelay) -> None:
        """Open the stream of `call` and answer with it through `relay`, keeping a silent stream
        alive where the route has a keep-alive (routes.keepalive): the silence before the first
        event counts too, so the head may go out with the first keep-alive."""
        dispatcher = self.gateway.dispatcher
        every = keepalive_seconds(self.gateway.settings, self.scope["path"]) if relay.ping else 0.0
        if not every:
            groups = await dispatcher.stream(call, self.exchange)
        else:

            async def idle() -> None:
                await self._start(relay)
                await self.send({"type": "http.response.body", "body": relay.ping, "more_body": True})

            try:
                opening = await opened(dispatcher.stream(call, self.exchange), every, idle)
            except GatewayError as exc:
                if not self.started:
                    raise
                self.exchange.error = exc.message
                await self.send({"type": "http.response.body", "body": relay.error(exc), "more_body": True})
                return
            groups = paced(opening, every)
        # The relay itself, here rather than in a method of its own: each wake-up of a stream
        # resumes every coroutine between the server and the upstream's reader.
        await self._start(relay)
        try:
            await send_events(groups, relay, self.send)
        except GatewayError as exc:
            # Bytes already reached the client, so the status cannot change: send the error as
            # the last event and end without completing the body, so the client sees a broken
            # stream, not a clean end.
            self.exchange.error = exc.message
            await self.send({"type": "http.response.body", "body": relay.error(exc), "more_body": True})

    async def _start(self, relay: StreamRelay) -> None:
        if not self.started:
            self.started = True
            exchange = self.exchange
            exchange.status = 200
            exchange.first_byte_ms = exchange.overhead_ms() + exchange.upstream_ms
            headers = gateway_headers(exchange, relay.headers)
            await self.send({"type": "http.response.start", "status": 200, "headers": headers})


async def send_events(groups: AsyncGenerator[list[bytes], None], relay: StreamRelay, send: Send) -> None:
    """The body of a stream, a write per group of events that arrived together (see
    Dispatcher.stream); the body's end goes with the last group when it is known by then.

    Whether a group is the last is known without waiting only: before a group goes out, the next
    step of `groups` is started (coalesce.start_next) and runs until it has to wait for I/O; when
    it ends the stream instead, the end rides with the group. (coalesce.marking_last does the same
    as a generator of its own, a frame more for every wake-up of the stream.)
    """
    # A step of `groups` started and waiting while the group before it goes out: a cancelled send
    # must end it (GeneratorExit inside, its cleanup awaited) before `groups` is closed.
    waiting: tuple[Generator[Any, Any, list[bytes]], Any] | None = None
    try:
        try:
            group: list[bytes] | None = await anext(groups)
        except StopAsyncIteration:
            group = None
        while group is not None:
            try:
                ready, started = start_next(groups)
            except StopAsyncIteration:
                if group:  # the last group, and the body's end with it
                    await send({"type": "http.response.body", "body": relay.events(group) + relay.end()})
                    return
                await send({"type": "http.response.body", "body": relay.ping, "more_body": True})
                break
            except BaseException:
                message = _group_message(group, relay)  # what came before the failure, then the failure
                if message is not None:
                    await send(message)
                raise
            if not ready:
                waiting = started
            message = _group_message(group, relay)
            if message is not None:
                await send(message)
            if ready:
                group = started
                continue
            waiting = None
            try:
                group = await resume(*started)
            except StopAsyncIteration:
                break
    finally:
        # Closed at once on any way out: a cancelled send may leave the next read started inside.
        if waiting is not None:
            await abandon(*waiting)
        await groups.aclose()
    await send({"type": "http.response.body", "body": relay.end()})  # the end came after the last group


def _group_message(group: list[bytes], relay: StreamRelay) -> dict[str, Any] | None:
    """The body message of a group that is not the last: a keep-alive's ping for an empty group
    (routes.keepalive), else its events, or None when they render to nothing. A plain function,
    not a coroutine: it runs for every group of every stream."""
    if not group:
        return {"type": "http.response.body", "body": relay.ping, "more_body": True}
    body = relay.events(group)
    return {"type": "http.response.body", "body": body, "more_body": True} if body else None


Handler = Callable[[DialectRequest], Awaitable[None]]


async def run_dialect(scope: Scope, receive: Receive, send: Send, dialect: Dialect, handle: Handler) -> None:
    """Serve one model-route request: `handle` answers it, or raises a GatewayError that is
    answered here in the dialect's envelope."""
    gateway = gateway_of(scope)
    exchange = get_exchange(scope)
    exchange.dialect, exchange.route = dialect.name, scope["path"]
    request: DialectRequest | None = None
    try:
        client = gateway.auth.client(scope)
        exchange.client_id = client.id
        request = DialectRequest(gateway, exchange, scope, receive, send, client)
        await handle(request)
    except GatewayError as exc:
        await send_dialect_error(send, exchange, exc, dialect)
    except asyncio.CancelledError:
        guard = None if request is None else request.guard
        if guard is None or not guard.absorb():
            raise
        exchange.status, exchange.error = 499, "client disconnected"
    finally:
        if request is not None and request.guard is not None:
            request.guard.stop()


async def send_dialect_error(send: Send, exchange: Exchange, exc: GatewayError, dialect: Dialect) -> None:
    await send_error(send, exc, dialect.errors, exchange)


Parse = Callable[[DialectRequest], Awaitable[tuple[UpstreamCall, S]]]
Render = Callable[[UpstreamReply, S], Answer]
Translate = Callable[[S], StreamRelay]


class Generate(Generic[S]):
    """A generate route (an ASGI handler): one upstream call, its answer or stream in the dialect's
    shape. `parse` reads the request (with `DialectRequest.read` or `.json`) into the upstream
    call; `render` makes the answer of a unary call, `translate` the relay of a streamed one."""

    __slots__ = ("dialect", "parse", "render", "translate")

    def __init__(self, dialect: Dialect, parse: Parse[S], render: Render[S], translate: Translate[S]) -> None:
        self.dialect = dialect
        self.parse = parse
        self.render = render
        self.translate = translate

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # run_dialect's coroutine itself, not one awaiting it: a frame fewer for every wake-up.
        return run_dialect(scope, receive, send, self.dialect, self.generate)

    async def generate(self, request: DialectRequest) -> None:
        call, parsed = await self.parse(request)
        exchange, dispatcher = request.exchange, request.gateway.dispatcher
        if not call.stream:
            reply = await dispatcher.unary(call, exchange)
            await request.answer(*self.render(reply, parsed))
            return
        exchange.stream = True
        await request.stream(call, self.translate(parsed))


# The translated dialects (OpenAI Chat and Responses, Anthropic Messages): a JSON body parsed into
# one Gemini generate call, its JSON answer rendered back, its stream fed through a translator.


class TranslatedCall(Protocol):
    """What a dialect's parsed generate request carries for the flow (ChatCall, MessagesCall, ...)."""

    @property
    def model(self) -> str: ...
    @property
    def request(self) -> JSON: ...
    @property
    def stream(self) -> bool: ...
    @property
    def remote_images(self) -> Sequence[RemoteImage]: ...
    @property
    def dropped_tools(self) -> Sequence[str]: ...


class StreamTranslator(Protocol):
    def feed(self, event: JSON) -> Iterable[bytes]: ...
    def finish(self) -> Iterable[bytes]: ...
    def error_event(self, exc: GatewayError) -> bytes: ...


@dataclass(slots=True)
class Translated(Generic[C]):
    """A parsed request with the id and time its answer (or every event of its stream) carries."""

    call: C
    id: str
    created: int


def translated(
    parse_request: Callable[..., C], *, id_prefix: str
) -> Callable[[DialectRequest], Awaitable[tuple[UpstreamCall, Translated[C]]]]:
    """The parse step of a translated dialect: `parse_request(body, aliases=, suffixes=)`, then the
    model checked, built-in tools the model could not take named, the default safety settings
    applied where the client sent none, and any remote images inlined."""

    async def parse(request: DialectRequest) -> tuple[UpstreamCall, Translated[C]]:
        settings = request.gateway.settings
        body = await request.json()
        call = parse_request(body, aliases=settings.model_aliases, suffixes=settings.model_suffixes)
        model = request.use_model(call.model)
        request.note_dropped_tools(call.dropped_tools)
        generate = with_default_safety(call.request, settings.safety_settings)
        upstream = orjson.dumps(await request.inline_remote_media(generate, call.remote_images))
        method = "streamGenerateContent" if call.stream else "generateContent"
        ids = Translated(call, new_id(id_prefix, 24), int(time.time()))
        return UpstreamCall(method, model, upstream), ids

    return parse


def json_answer(render: Callable[[JSON, S], JSON]) -> Render[S]:
    """The render step of a translated dialect: the upstream's JSON answer into the dialect's."""

    def answer(reply: UpstreamReply, parsed: S) -> Answer:
        return 200, JSON_TYPE, orjson.dumps(render(decode_answer(reply.body), parsed))

    return answer


class TranslatedEvents:
    """A stream relay through a dialect's translator, as SSE."""

    __slots__ = ("ping", "translator")
    headers: ClassVar[Headers] = SSE_TYPE

    def __init__(self, translator: StreamTranslator, ping: bytes) -> None:
        self.translator = translator
        self.ping = ping

    def events(self, group: list[bytes]) -> bytes:
        feed, loads = self.translator.feed, orjson.loads
        if len(group) == 1:
            return b"".join(feed(loads(group[0])))
        out: list[bytes] = []
        for payload in group:
            out += feed(loads(payload))
        return b"".join(out)

    def end(self) -> bytes:
        return b"".join(self.translator.finish())

    def error(self, exc: GatewayError) -> bytes:
        return self.translator.error_event(exc)


def translated_events(translator: Callable[[S], StreamTranslator], *, ping: bytes) -> Translate[S]:
    """The translate step of a translated dialect: a new translator per stream, `ping` its
    keep-alive."""

    def translate(parsed: S) -> StreamRelay:
        return TranslatedEvents(translator(parsed), ping)

    return translate


def decode_answer(body: bytes) -> JSON:
    """An upstream success body as JSON; a non-JSON one is the upstream's fault, not the client's."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError("the upstream answered with something that is not JSON", status_code=502) from None
    if not isinstance(data, dict):
        raise GatewayError("the upstream answered with an unexpected JSON shape", status_code=502)
    return data
