"""The fake's ASGI app: a hand-written path split in front of the RPC handlers.

Order of checks for an API call, as Google's front end does it: route, then the API key, then
scripted faults (standing in for quota and server trouble), then the model, then the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import parse_qsl

import orjson

from gemini_gateway.fake_upstream import asgi, jobs
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.cache import AnswerCache
from gemini_gateway.fake_upstream.code_assist import handle_code_assist
from gemini_gateway.fake_upstream.control import handle_control
from gemini_gateway.fake_upstream.errors import (
    FakeApiError,
    Json,
    invalid_json,
    key_invalid,
    missing_key,
    model_not_found,
    oauth_unsupported,
    route_not_found,
)
from gemini_gateway.fake_upstream.faults import empty_answer, fault_error
from gemini_gateway.fake_upstream.file_search import check_stores
from gemini_gateway.fake_upstream.generation import AnswerPlan, plan_answer
from gemini_gateway.fake_upstream.handlers import batch_embed_contents, count_tokens, embed_content, predict
from gemini_gateway.fake_upstream.interaction_routes import INTERACTION_PREFIXES, handle_interactions
from gemini_gateway.fake_upstream.models import MODEL_BODIES, ModelInfo, find_model, list_models_body
from gemini_gateway.fake_upstream.oauth import AUTH_PATHS, TOKEN_PATH, handle_oauth
from gemini_gateway.fake_upstream.proto_json import GENERATE_CONTENT_REQUEST, parse_body
from gemini_gateway.fake_upstream.resources import RESOURCE_PREFIXES, handle_resources
from gemini_gateway.fake_upstream.responses import array_element, render_response, sse_event, stream_events
from gemini_gateway.fake_upstream.state import CallRecord, FakeConfig, FakeState
from gemini_gateway.fake_upstream.vertex import VERTEX_PREFIXES, vertex_count_body, vertex_route

_INDENT = orjson.OPT_INDENT_2
_HANDLERS: dict[str, Callable[[ModelInfo, bytes], Json]] = {
    "countTokens": count_tokens,
    "embedContent": embed_content,
    "batchEmbedContents": batch_embed_contents,
    "predict": predict,
}
_GENERATE = frozenset({"generateContent", "streamGenerateContent"})
_RPCS = _GENERATE | _HANDLERS.keys()


class FakeGeminiApp:
    """ASGI app answering like the Generative Language API under /v1beta and /v1, plus the
    /_fake control routes. `state` is shared with whoever drives the fake."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self._answers = AnswerCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if scope["method"] == "OPTIONS":
                await asgi.send_preflight(scope, send)
            elif jobs.claims(path):  # batches, File Search stores (before files: `files/x:download`)
                await jobs.handle_jobs(self.state, scope, receive, send)
            elif path.startswith(RESOURCE_PREFIXES):
                await handle_resources(self.state, scope, receive, send)
            elif path.startswith(INTERACTION_PREFIXES):
                await handle_interactions(self.state, scope, receive, send)
            elif path.startswith(VERTEX_PREFIXES):
                await self._api(scope, receive, send, *vertex_route(self.state, scope))
            elif path.startswith("/v1beta/"):
                await self._api(scope, receive, send, "v1beta", path[8:])
            elif path.startswith("/v1/"):
                await self._api(scope, receive, send, "v1", path[4:])
            elif path.startswith("/_fake/"):
                await handle_control(self.state, scope, receive, send)
            elif path.startswith("/v1internal"):
                await handle_code_assist(self.state, scope, receive, send)
            elif path == TOKEN_PATH or path in AUTH_PATHS:
                await handle_oauth(self.state.oauth, scope, receive, send)
            else:
                await _send_error(send, route_not_found())
        elif scope["type"] == "lifespan":
            await asgi.lifespan(receive, send)

    async def _api(self, scope: Scope, receive: Receive, send: Send, version: str, rest: str) -> None:
        route = _route(rest, scope["method"])
        if route is None:
            await _send_error(send, route_not_found())
            return
        rpc, model_id = route
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope["query_string"] else {}
        key, bearer, chunks = _read_headers(scope)
        key = key or query.get("key")
        stream = rpc == "streamGenerateContent"
        sse = query.get("alt") == "sse"
        state = self.state
        state.record(CallRecord(key, rpc, model_id, stream, version))
        body = await asgi.read_body(receive)
        try:
            if not key:
                raise oauth_unsupported() if bearer else missing_key()
            if state.valid_keys is not None and key not in state.valid_keys:
                raise key_invalid()
            config = state.config
            if config.latency_ms:
                await asyncio.sleep(config.latency_ms / 1000)
            cut_after: int | None = None
            fault = state.take_fault(key, model_id)
            if fault is not None:
                if fault.kind == "hang":
                    await asgi.wait_for_disconnect(receive)
                    return
                if fault.kind == "slow":
                    await asyncio.sleep(fault.delay_ms / 1000)
                elif fault.kind == "cut":
                    cut_after = fault.after_chunks
                elif fault.kind == "reply" and fault.answer:
                    await _send_reply(send, fault.answer, stream, sse)
                    return
                elif fault.kind == "empty":
                    await _send_reply(send, [empty_answer(model_id)], stream, sse)
                    return
                else:
                    raise fault_error(fault, model_id, version, rpc, key)
            if rpc == "countTokens" and model_id and scope["path"].startswith(VERTEX_PREFIXES):
                body = vertex_count_body(body, model_id)
            if rpc in _GENERATE or rpc == "countTokens":
                state.projects.check_references(key, rpc, model_id, body)  # files, caches: per project
                check_stores(state.projects.project(key), body)  # File Search stores named in tools
            if stream:
                chunks = chunks or config.stream_chunks
                frames = self._answers.get_or_make(
                    (rpc, model_id, sse, chunks, config.min_answer_chars),
                    body,
                    lambda: _stream_frames(model_id, version, body, config, chunks, sse),
                )
                await _send_stream(send, frames, config.chunk_delay_ms / 1000, sse, cut_after)
            elif cut_after is not None:
                # Headers promising a body that never comes, then uvicorn drops the connection.
                headers = [*asgi.JSON_HEADERS, (b"content-length", b"64")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
            elif rpc == "generateContent":
                answer = self._answers.get_or_make(
                    (rpc, model_id, config.min_answer_chars),
                    body,
                    lambda: orjson.dumps(
                        render_response(_plan(model_id, version, rpc, body, config)), option=_INDENT
                    ),
                )
                await asgi.send_json(send, 200, answer)
            else:
                await asgi.send_json(send, 200, _answer(rpc, model_id, version, body, query))
        except (FakeApiError, TypeError, AttributeError, KeyError, IndexError, ValueError) as raised:
            error = raised if isinstance(raised, FakeApiError) else _wrong_type(raised)
            # Without alt=sse a stream is one JSON array, and so is the error that replaces it.
            await asgi.send_json(
                send, error.code, b"[" + error.body() + b"]" if stream and not sse else error.body()
            )


def _wrong_type(raised: Exception) -> FakeApiError:
    """Google's proto parser refuses a value of the wrong type (`"text": false`) with a 400 before
    any model runs. This fake reads what the proto reader passes as plain values with dict access,
    so there a wrong type surfaces as a Python error: answered as Google would, not as a 500."""
    return invalid_json(f"Invalid value in the request ({type(raised).__name__}: {raised})")


def _route(rest: str, method: str) -> tuple[str, str | None] | None:
    """(rpc, model id) for `models`, `models/{id}` and `models/{id}:{rpc}`; None for anything else."""
    if rest == "models":
        return ("listModels", None) if method == "GET" else None
    if not rest.startswith("models/"):
        return None
    name, _, rpc = rest[7:].partition(":")
    if not name or "/" in name:
        return None
    if not rpc:
        return ("getModel", name) if method == "GET" else None
    return (rpc, name) if rpc in _RPCS and method == "POST" else None


def _read_headers(scope: Scope) -> tuple[str | None, bool, int]:
    key: str | None = None
    bearer = False
    chunks = 0
    for name, value in scope["headers"]:
        if name == b"x-goog-api-key":
            key = value.decode("latin-1")
        elif name == b"authorization":
            bearer = True
        elif name == b"x-fake-stream-chunks" and value.isdigit():
            chunks = int(value)  # lets one call ask for a different split than the config's
    return key, bearer, chunks


def _model(model_id: str | None, version: str, rpc: str) -> ModelInfo:
    model = find_model(model_id or "")
    needed = "generateContent" if rpc == "streamGenerateContent" else rpc
    if model is None or not model.supports(needed):
        raise model_not_found(model_id or "", version, needed)
    return model


def _plan(model_id: str | None, version: str, rpc: str, body: bytes, config: FakeConfig) -> AnswerPlan:
    model = _model(model_id, version, rpc)
    request = parse_body(body, GENERATE_CONTENT_REQUEST)
    return plan_answer(model, request, body, min_chars=config.min_answer_chars)


def _answer(rpc: str, model_id: str | None, version: str, body: bytes, query: dict[str, str]) -> bytes:
    if rpc == "listModels":
        return list_models_body(query.get("pageSize"), query.get("pageToken"))
    if rpc == "getModel":
        model = find_model(model_id or "")
        if model is None:
            raise model_not_found(model_id or "", version, "get")
        return MODEL_BODIES[model.id]
    return orjson.dumps(_HANDLERS[rpc](_model(model_id, version, rpc), body), option=_INDENT)


def _stream_frames(
    model_id: str | None, version: str, body: bytes, config: FakeConfig, chunks: int, sse: bool
) -> list[bytes]:
    """The stream's events as framed bytes, ready to write one by one."""
    events = stream_events(_plan(model_id, version, "streamGenerateContent", body, config), chunks)
    if sse:
        return [sse_event(event) for event in events]
    return [array_element(event, index == 0) for index, event in enumerate(events)]


async def _send_stream(
    send: Send, frames: list[bytes], delay: float, sse: bool, cut_after: int | None
) -> None:
    await asgi.start_stream(send, sse=sse)
    for index, frame in enumerate(frames):
        if cut_after is not None and index >= cut_after:
            return  # leaving without the final empty chunk makes uvicorn close the connection abruptly
        if index and delay:
            await asyncio.sleep(delay)
        await asgi.send_piece(send, frame)
    if cut_after is None:
        await asgi.send_piece(send, b"" if sse else b"]", last=True)


async def _send_reply(send: Send, answer: list[Json], stream: bool, sse: bool) -> None:
    """A scripted answer, sent as given: no validation, no derived text."""
    if not stream:
        await asgi.send_json(send, 200, orjson.dumps(answer[0], option=_INDENT))
        return
    frames = [sse_event(e) if sse else array_element(e, i == 0) for i, e in enumerate(answer)]
    await _send_stream(send, frames, 0.0, sse, None)


async def _send_error(send: Send, error: FakeApiError) -> None:
    await asgi.send_json(send, error.code, error.body())


def create_fake_app(state: FakeState | None = None) -> FakeGeminiApp:
    """The fake Gemini upstream as an ASGI app; pass a `FakeState` to configure and observe it."""
    return FakeGeminiApp(state or FakeState())
