"""Anthropic Messages API under /v1/messages (and /anthropic/v1/messages), over the same dispatcher."""

from __future__ import annotations

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.dialects.anthropic_messages import (
    MessagesCall,
    parse_count_tokens_request,
    parse_messages_request,
    render_count_tokens,
    render_messages_response,
)
from gemini_gateway.dialects.anthropic_stream import MessagesStreamTranslator
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send
from gemini_gateway.routes.dialect_flow import (
    JSON,
    Dialect,
    DialectRequest,
    Generate,
    Translated,
    decode_answer,
    json_answer,
    run_dialect,
    translated,
    translated_events,
)
from gemini_gateway.routes.keepalive import ANTHROPIC_PING

PREFIXES = ("/v1", "/anthropic/v1")


ANTHROPIC = Dialect("anthropic", "anthropic")


def _render_message(answer: JSON, message: Translated[MessagesCall]) -> JSON:
    return render_messages_response(answer, message.call, message_id=message.id)


def _message_events(message: Translated[MessagesCall]) -> MessagesStreamTranslator:
    return MessagesStreamTranslator(message.call, message.id)


messages = Generate(
    ANTHROPIC,
    translated(parse_messages_request, id_prefix="msg_"),
    json_answer(_render_message),
    translated_events(_message_events, ping=ANTHROPIC_PING),
)


async def count_tokens(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(scope, receive, send, ANTHROPIC, _count_tokens)


async def _count_tokens(request: DialectRequest) -> None:
    settings = request.gateway.settings
    name, body = parse_count_tokens_request(
        await request.json(), aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    model = request.use_model(name)
    reply = await request.gateway.dispatcher.unary(
        UpstreamCall("countTokens", model, orjson.dumps(body)), request.exchange
    )
    await request.answer_json(render_count_tokens(decode_answer(reply.body)))


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in PREFIXES:
        table += [
            Route(f"{prefix}/messages", ASGIEndpoint(messages), methods=["POST"]),
            Route(f"{prefix}/messages/count_tokens", ASGIEndpoint(count_tokens), methods=["POST"]),
        ]
    return table
