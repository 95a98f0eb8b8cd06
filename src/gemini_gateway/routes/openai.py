"""OpenAI-compatible routes under /v1 (and /openai/v1, /hf/v1), over the same dispatcher."""

from __future__ import annotations

import time

import orjson
from starlette.routing import BaseRoute, Route

from gemini_gateway.backends.base import UpstreamCall
from gemini_gateway.dialects.common import new_id
from gemini_gateway.dialects.generation import suffixed_model_ids
from gemini_gateway.dialects.openai_chat import parse_chat_request, render_chat_response
from gemini_gateway.dialects.openai_embeddings import parse_embeddings_request, render_embeddings_response
from gemini_gateway.dialects.openai_errors import render_openai_error
from gemini_gateway.dialects.openai_images import parse_images_request, render_images_response
from gemini_gateway.dialects.openai_models import render_model, render_models
from gemini_gateway.dialects.openai_responses import parse_responses_request, render_responses_response
from gemini_gateway.dialects.openai_responses_stream import ResponsesStreamTranslator
from gemini_gateway.dialects.openai_speech import parse_speech_request, render_speech_audio
from gemini_gateway.dialects.openai_stream import ChatStreamTranslator, error_event
from gemini_gateway.errors import GatewayError
from gemini_gateway.routes.asgi import ASGIEndpoint, Receive, Scope, Send
from gemini_gateway.routes.dialect_flow import DialectRequest, decode_answer, run_dialect
from gemini_gateway.routes.gemini import list_models as gemini_list_models
from gemini_gateway.routes.keepalive import OPENAI_PING

PREFIXES = ("/v1", "/openai/v1", "/hf/v1")
MODELS_TTL = 60.0


async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(scope, receive, send, dialect="openai", render_error=render_openai_error, handle=_chat)


async def _chat(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_chat_request(request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes)
    request.use_model(call.model)
    body = orjson.dumps(await request.inline_remote_media(call.request, call.remote_images))
    response_id, created = new_id("chatcmpl-", 24), int(time.time())
    dispatcher = request.gateway.dispatcher
    if not call.stream:
        reply = await dispatcher.unary(UpstreamCall("generateContent", call.model, body), request.exchange)
        answer = render_chat_response(
            decode_answer(reply.body), call, response_id=response_id, created=created
        )
        await request.answer_json(answer)
        return
    request.exchange.stream = True
    translator = ChatStreamTranslator(call, response_id, created)
    upstream = UpstreamCall("streamGenerateContent", call.model, body)
    await request.stream_answer(upstream, translator.feed, translator.finish, error_event, OPENAI_PING)


async def responses(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(
        scope, receive, send, dialect="openai-responses", render_error=render_openai_error, handle=_responses
    )


async def _responses(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_responses_request(
        request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    request.use_model(call.model)
    body = orjson.dumps(await request.inline_remote_media(call.request, call.remote_images))
    response_id, created = new_id("resp_", 24), int(time.time())
    dispatcher = request.gateway.dispatcher
    if not call.stream:
        reply = await dispatcher.unary(UpstreamCall("generateContent", call.model, body), request.exchange)
        answer = render_responses_response(
            decode_answer(reply.body), call, response_id=response_id, created_at=created
        )
        await request.answer_json(answer)
        return
    request.exchange.stream = True
    translator = ResponsesStreamTranslator(call, response_id, created)
    upstream = UpstreamCall("streamGenerateContent", call.model, body)
    await request.stream_answer(
        upstream, translator.feed, translator.finish, translator.error_event, OPENAI_PING
    )


async def embeddings(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(
        scope, receive, send, dialect="openai", render_error=render_openai_error, handle=_embeddings
    )


async def _embeddings(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_embeddings_request(
        request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    request.use_model(call.model)
    answers = []
    for batch in call.batches:
        upstream = UpstreamCall("batchEmbedContents", call.model, orjson.dumps(batch))
        reply = await request.gateway.dispatcher.unary(upstream, request.exchange)
        answers.append(decode_answer(reply.body))
    await request.answer_json(render_embeddings_response(answers, call))


async def images(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(
        scope, receive, send, dialect="openai", render_error=render_openai_error, handle=_images
    )


async def _images(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_images_request(
        request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    request.use_model(call.model)
    body = orjson.dumps(call.request)
    answers = []
    for _ in range(call.calls):
        reply = await request.gateway.dispatcher.unary(
            UpstreamCall(call.method, call.model, body), request.exchange
        )
        answers.append(decode_answer(reply.body))
    await request.answer_json(render_images_response(answers, call, created=int(time.time())))


async def speech(scope: Scope, receive: Receive, send: Send) -> None:
    await run_dialect(
        scope, receive, send, dialect="openai", render_error=render_openai_error, handle=_speech
    )


async def _speech(request: DialectRequest) -> None:
    settings = request.gateway.settings
    call = parse_speech_request(
        request.body, aliases=settings.model_aliases, suffixes=settings.model_suffixes
    )
    request.use_model(call.model)
    upstream = UpstreamCall("generateContent", call.model, orjson.dumps(call.request))
    reply = await request.gateway.dispatcher.unary(upstream, request.exchange)
    audio, content_type = render_speech_audio(decode_answer(reply.body), call)
    await request.answer_bytes(audio, content_type)


def _wants_gemini(scope: Scope) -> bool:
    """`GET /v1/models` is both Google's and OpenAI's route: Google clients send their key differently."""
    if b"key=" in scope.get("query_string", b"") or b"page" in scope.get("query_string", b""):
        return True
    return any(name == b"x-goog-api-key" for name, _ in scope["headers"])


class _ModelCache:
    def __init__(self) -> None:
        self.expires = 0.0
        self.models: list[dict[str, object]] = []


_CACHE_KEY = "openai.models"


async def models(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"].startswith("/v1/") and _wants_gemini(scope):
        await gemini_list_models(scope, receive, send)
        return
    await run_dialect(
        scope, _no_body(receive), send, dialect="openai", render_error=render_openai_error, handle=_models
    )


def _no_body(receive: Receive) -> Receive:
    """GET requests have no JSON body; hand the flow an empty object instead."""
    sent = False

    async def receive_empty() -> dict[str, object]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        return await receive()

    return receive_empty


async def _models(request: DialectRequest) -> None:
    cache: _ModelCache = request.gateway.services.setdefault(_CACHE_KEY, _ModelCache())
    now = time.monotonic()
    if now >= cache.expires:
        reply = await request.gateway.dispatcher.unary(
            UpstreamCall("models.list", params={"pageSize": "1000"}), request.exchange
        )
        cache.models = list(decode_answer(reply.body).get("models") or [])
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
