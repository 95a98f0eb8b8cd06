"""The fake's Interactions routes, under /v1beta and /v1 as google-genai calls them:

    POST   /{v}/interactions                 create (JSON, or SSE with `"stream": true`)
    GET    /{v}/interactions/{id}            get (`?stream=true&last_event_id=E` replays events)
    DELETE /{v}/interactions/{id}            delete -> {}
    POST   /{v}/interactions/{id}/cancel     cancel a background interaction

Same front-end order as the model routes: route, API key, scripted faults, then the handler.
Errors come in the Interactions API's own shape (a string `code`), not google.rpc.Status.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import orjson

from gemini_gateway.fake_upstream import asgi
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import (
    FakeApiError,
    Json,
    invalid_argument,
    invalid_json,
    key_invalid,
    model_not_found,
    route_not_found,
)
from gemini_gateway.fake_upstream.faults import TIMING_FAULTS, fault_error
from gemini_gateway.fake_upstream.file_search import check_stores
from gemini_gateway.fake_upstream.files import header, read_small, send_answer
from gemini_gateway.fake_upstream.interactions import (
    AGENTS,
    DONE_FRAME,
    FakeInteractions,
    StoredInteraction,
    events_after,
    sse_frame,
    stream_events,
)
from gemini_gateway.fake_upstream.models import find_model
from gemini_gateway.fake_upstream.state import CallRecord, FakeState

INTERACTION_PREFIXES = ("/v1beta/interactions", "/v1/interactions")
GATE_SECONDS = 10.0  # a paced stream waits at most this long for its test to open the gate
_TRUE = ("true", "True", "1")


def _route(scope: Scope) -> tuple[str, str, str | None]:
    """(version, rpc, interaction id); 404 for any other path or verb."""
    version, _, rest = scope["path"].lstrip("/").partition("/")
    parts = rest.split("/")  # ["interactions", id?, "cancel"?]
    method = scope["method"]
    if parts == ["interactions"] and method == "POST":
        return version, "createInteraction", None
    if len(parts) == 2 and parts[1] and ":" not in parts[1]:
        rpc = {"GET": "getInteraction", "DELETE": "deleteInteraction"}.get(method)
        if rpc:
            return version, rpc, parts[1]
    if len(parts) == 3 and parts[1] and parts[2] == "cancel" and method == "POST":
        return version, "cancelInteraction", parts[1]
    raise route_not_found()


async def handle_interactions(state: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope["query_string"] else {}
    key = header(scope, b"x-goog-api-key") or query.get("key")
    try:
        version, rpc, ident = _route(scope)
        body = await read_small(receive, limit=16 * 1024 * 1024) if rpc == "createInteraction" else b""
        request = _request(body) if rpc == "createInteraction" else {}
        model = request.get("model")
        model_id = str(model).removeprefix("models/") if isinstance(model, str) else None
        streamed = request.get("stream") is True or query.get("stream") in _TRUE
        state.record(CallRecord(key, rpc, model_id, streamed, version))
        key = await _admit(state, key, model_id, version, rpc)
        store: FakeInteractions = state.interactions
        if rpc == "createInteraction":
            _check(request, version)
            check_stores(state.projects.project(key), body)  # a store of another project: 403
            interaction = store.create(key, request)
            if streamed:
                interaction.status = "completed"  # the stream runs it to the end
                await _stream(state, send, interaction, None)
            else:
                await send_answer(send, 200, _json(interaction.to_json()))
        elif rpc == "getInteraction":
            interaction = store.poll(key, ident or "")
            if streamed:
                interaction.status = (
                    "completed" if interaction.status == "in_progress" else interaction.status
                )
                await _stream(state, send, interaction, query.get("last_event_id"))
            else:
                include = query.get("include_input") in _TRUE
                await send_answer(send, 200, _json(interaction.to_json(include_input=include)))
        elif rpc == "cancelInteraction":
            await send_answer(send, 200, _json(store.cancel(key, ident or "").to_json()))
        else:
            store.delete(key, ident or "")
            await send_answer(send, 200, b"{}")
    except FakeApiError as error:
        await send_answer(send, *error.interaction_answer())


async def _admit(state: FakeState, key: str | None, model: str | None, version: str, rpc: str) -> str:
    if not key:
        raise FakeApiError(401, "The request is missing an API key. Pass one in the x-goog-api-key header.")
    if state.valid_keys is not None and key not in state.valid_keys:
        raise key_invalid()
    fault = state.take_fault(key, model)
    if fault is not None:
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif fault.kind not in TIMING_FAULTS and fault.kind != "reply":
            raise fault_error(fault, model, version, rpc, key)
    return key


def _request(body: bytes) -> Json:
    try:
        data = orjson.loads(body) if body.strip() else None
    except orjson.JSONDecodeError as exc:
        raise invalid_json(str(exc)) from None
    if not isinstance(data, dict):
        raise invalid_json("The request body must be a JSON object.")
    return data


def _check(request: Json, version: str) -> None:
    """The checks Google makes before it runs an interaction."""
    model, agent = request.get("model"), request.get("agent")
    if model and agent:
        raise invalid_argument("Only one of model and agent may be set.", "model")
    if not model and not agent:
        raise invalid_argument("Either model or agent is required.", "model")
    if model:
        found = find_model(str(model))
        if found is None or not found.supports("generateContent"):
            raise model_not_found(str(model).removeprefix("models/"), version, "createInteraction")
    elif agent not in AGENTS:
        raise FakeApiError(404, f"Agent {agent!r} was not found.")
    elif request.get("background") is not True:
        raise invalid_argument(
            "Agent interactions must run in the background (background=true).", "background"
        )
    if request.get("input") in (None, "", []):
        raise invalid_argument("input is required.", "input")
    if request.get("background") is True and request.get("store") is False:
        raise invalid_argument("A background interaction must be stored (store=true).", "store")


async def _stream(
    state: FakeState, send: Send, interaction: StoredInteraction, last_event_id: str | None
) -> None:
    """The events after `last_event_id`, paced by `chunk_delay_ms`, then `[DONE]`."""
    config = state.config
    events = events_after(stream_events(interaction, config.stream_chunks), last_event_id)
    deltas = [i for i, (kind, _) in enumerate(events) if kind == "step.delta"]
    last_delta = deltas[-1] if len(deltas) > 1 else None
    store: FakeInteractions = state.interactions
    await asgi.start_stream(send, sse=True)
    for index, (kind, payload) in enumerate(events):
        if index and config.chunk_delay_ms:
            await asyncio.sleep(config.chunk_delay_ms / 1000)
        gate = store.gate
        if index == last_delta and gate is not None:
            await asyncio.to_thread(gate.wait, GATE_SECONDS)
        await asgi.send_piece(send, sse_frame(kind, payload))
        if index == last_delta:
            store.last_sent.set()
    await asgi.send_piece(send, DONE_FRAME, last=True)


def _json(data: Json) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2)
