"""OpenAI-compatible routes under /v1 (and /openai/v1, /hf/v1), over the same dispatcher."""

from __future__ import annotations

import time

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.dialects.generation import suffixed_model_ids
from gemini_gateway.dialects.openai_chat import ChatCall, parse_chat_request, render_chat_response
from gemini_gateway.dialects.openai_embeddings import parse_embeddings_request, render_embeddings_response
from gemini_gateway.dialects.openai_images import ImagesCall, parse_images_request, render_images_response
from gemini_gateway.dialects.openai_models import render_model, render_models
from gemini_gateway.dialects.openai_responses import (
    ResponsesCall,
    parse_responses_request,
    render_responses_response,
)
from gemini_gateway.dialects.openai_responses_stream import ResponsesStreamTranslator
from gemini_gateway.dialects.openai_speech import parse_speech_request, render_speech_audio
from gemini_gateway.dialects.openai_stream import ChatStreamTranslator
from gemini_gateway.errors import GatewayError
from gemini_gateway.model_catalog import all_models
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
from gemini_gateway.routes.gemini import list_models as gemini_list_models
from gemini_gateway.routes.keepalive import OPENAI_PING

PREFIXES = ("/v1", "/openai/v1", "/hf/v1")
MODELS_TTL = 60.0


OPENAI = Dialect("openai", "openai")
OPENAI_RESPONSES = Dialect("openai-responses", "openai")


def _render_chat(answer: JSON, chat: Translated[ChatCall]) -> JSON:
    return render_chat_response(answer, chat.call, response_id=chat.id, created=chat.created)


def _chat_events(chat: Translated[ChatCall]) -> ChatStreamTranslator:
    return ChatStreamTranslator(chat.call, chat.id, chat.created)


chat_completions = Generate(
    OPENAI,
    translated(parse_chat_request, id_prefix="chatcmpl-"),
    json_answer(_render_chat),
    translated_events(_chat_events, ping=OPENAI_PING),
)


def _render_responses(answer: JSON, response: Translated[ResponsesCall]) -> JSON:
    return render_responses_response(
        answer, response.call, response_id=response.id, created_at=response.created
    )


def _responses_events(response: Translated[ResponsesCall]) -> ResponsesStreamTranslator:
    return ResponsesStreamTranslator(response.call, response.id, response.created)


responses = Generate(
    OPENAI_RESPONSES,
    translated(parse_responses_request, id_prefix="resp_"),
    json_answer(_render_responses),
    translated_events(_responses_events, ping=OPENAI_PING),
)


async def embeddings(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(scope, receive, send, OPENAI, _embeddings)


async def _embeddings(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_embeddings_request(
        await request.json(), aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    model = request.use_model(call.model)
    answers = []
    for batch in call.batches:
        upstream = UpstreamCall("batchEmbedContents", model, orjson.dumps(batch))
        reply = await request.gateway.dispatcher.unary(upstream, request.exchange)
        answers.append(decode_answer(reply.body))
    await request.answer_json(render_embeddings_response(answers, call))


async def images(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(scope, receive, send, OPENAI, _images)


async def _images(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_images_request(
        await request.json(), aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    await answer_images(request, call)


async def answer_images(request: DialectRequest, call: ImagesCall) -> None:
    """One upstream call per image asked for (generations and edits alike), answered together."""
    model = request.use_model(call.model)
    body = orjson.dumps(call.request)
    answers = []
    for _ in range(call.calls):
        reply = await request.gateway.dispatcher.unary(
            UpstreamCall(call.method, model, body), request.exchange
        )
        answers.append(decode_answer(reply.body))
    await request.answer_json(render_images_response(answers, call, created=int(time.time())))


async def speech(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(scope, receive, send, OPENAI, _speech)


async def _speech(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_speech_request(
        await request.json(), aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    model = request.use_model(call.model)
    upstream = UpstreamCall("generateContent", model, orjson.dumps(call.request))
    reply = await request.gateway.dispatcher.unary(upstream, request.exchange)
    audio, content_type = render_speech_audio(decode_answer(reply.body), call)
    await request.answer_bytes(audio, content_type)


def _wants_gemini(scope: Scope) -> bool:
    """`GET /v1/models` is both Google's and OpenAI's route: Google clients send their key differently."""
    query: bytes = scope.get("query_string", b"")
    # find, not `in`: `bytes in bytes` raises and clears a TypeError inside on CPython 3.11.
    if query.find(b"key=") >= 0 or query.find(b"page") >= 0:
        return True
    return any(name == b"x-goog-api-key" for name, _ in scope["headers"])


async def models(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"].startswith("/v1/") and _wants_gemini(scope):
        await gemini_list_models(scope, receive, send)
        return
    await run_dialect(scope, receive, send, OPENAI, _models)


async def _models(request: DialectRequest) -> None:
    request.watch_disconnect()  # a GET has no body to read first
    cache = request.gateway.model_list
    now = time.monotonic()
    if now >= cache.expires:
        # Every kind of credential in the pool: what keys, accounts and executors serve together.
        cache.models = await all_models(request.gateway, request.exchange)
        cache.expires = now + MODELS_TTL
    created = int(time.time())
    settings = request.gateway.settings
    # Names the gateway serves on top of the upstream's: aliases, then suffixed variants.
    extra_ids = list(settings.model_aliases)
    if settings.model_suffixes:
        extra_ids += suffixed_model_ids(cache.models)
    target = request.scope["path_params"].get("model")
    if target is None:
        await request.answer_json(render_models(cache.models, created=created, extra_ids=extra_ids))
        return
    known = {str(m.get("name", "")).removeprefix("models/") for m in cache.models}
    target = target.removeprefix("models/")
    if target not in known and target not in extra_ids:
        raise GatewayError(f"The model '{target}' does not exist", status_code=404)
    await request.answer_json(render_model(target, created=created))


def routes() -> list[BaseRoute]:
    table: list[BaseRoute] = []
    for prefix in PREFIXES:
        table += [
            Route(f"{prefix}/chat/completions", ASGIEndpoint(chat_completions), methods=["POST"]),
            Route(f"{prefix}/responses", ASGIEndpoint(responses), methods=["POST"]),
            Route(f"{prefix}/embeddings", ASGIEndpoint(embeddings), methods=["POST"]),
            Route(f"{prefix}/images/generations", ASGIEndpoint(images), methods=["POST"]),
            Route(f"{prefix}/audio/speech", ASGIEndpoint(speech), methods=["POST"]),
            Route(f"{prefix}/models", ASGIEndpoint(models), methods=["GET"]),
            Route(f"{prefix}/models/{{model:path}}", ASGIEndpoint(models), methods=["GET"]),
        ]
    return table
