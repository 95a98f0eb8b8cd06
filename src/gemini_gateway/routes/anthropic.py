"""Anthropic Messages API under /v1/messages (and /anthropic/v1/messages), over the same dispatcher."""

from __future__ import annotations

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.dialects.anthropic_errors import render_anthropic_error
from gemini_gateway.dialects.anthropic_messages import (
    parse_count_tokens_request,
    parse_messages_request,
    render_count_tokens,
    render_messages_response,
)
from gemini_gateway.dialects.anthropic_stream import MessagesStreamTranslator
from gemini_gateway.dialects.common import new_id
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send
from gemini_gateway.routes.dialect_flow import DialectRequest, decode_answer, run_dialect
from gemini_gateway.routes.keepalive import ANTHROPIC_PING

PREFIXES = ("/v1", "/anthropic/v1")


async def messages(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(
        scope, receive, send, dialect="anthropic", render_error=render_anthropic_error, handle=_messages
    )


async def _messages(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_messages_request(
        request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    request.use_model(call.model)
    body = orjson.dumps(await request.inline_remote_media(call.request, call.remote_images))
    message_id = new_id("msg_", 24)
    dispatcher = request.gateway.dispatcher
    if not call.stream:
        reply = await dispatcher.unary(UpstreamCall("generateContent", call.model, body), request.exchange)
        await request.answer_json(
            render_messages_response(decode_answer(reply.body), call, message_id=message_id)
        )
        return
    request.exchange.stream = True
    translator = MessagesStreamTranslator(call, message_id)
    upstream = UpstreamCall("streamGenerateContent", call.model, body)
    await request.stream_answer(
        upstream, translator.feed, translator.finish, translator.error_event, ANTHROPIC_PING
    )


async def count_tokens(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(
        scope, receive, send, dialect="anthropic", render_error=render_anthropic_error, handle=_count_tokens
    )


async def _count_tokens(request: DialectRequest) -> None:
    settings = request.gateway.settings
    model, body = parse_count_tokens_request(
        request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    request.use_model(model)
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
