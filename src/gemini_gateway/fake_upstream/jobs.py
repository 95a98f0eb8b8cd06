"""The front of the fake's batch, File Search and long-running operation routes: the call logged, the key checked and
scripted faults applied as for every other call, then the handler. Later requests of a store
upload carry no key (the upload id is the capability) and skip the key check, as on Google."""

from __future__ import annotations

from urllib.parse import parse_qsl

from gemini_gateway.fake_upstream import batches, file_search, operations
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import FakeApiError
from gemini_gateway.fake_upstream.files import header, send_answer
from gemini_gateway.fake_upstream.resources import admit
from gemini_gateway.fake_upstream.state import CallRecord, FakeState


def claims(path: str) -> bool:
    return batches.claims(path) or file_search.claims(path) or operations.claims(path)


async def handle_jobs(state: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope["query_string"] else {}
    key = header(scope, b"x-goog-api-key") or query.get("key")
    path: str = scope["path"]
    is_batch, is_operation = batches.claims(path), operations.claims(path)
    rpc = (
        batches.rpc_name(scope)
        if is_batch
        else operations.rpc_name(scope)
        if is_operation
        else file_search.rpc_name(scope)
    )
    version = next((p for p in path.split("/")[1:3] if p in ("v1", "v1beta")), "v1beta")
    state.record(CallRecord(key, rpc, None, False, version))
    try:
        if not is_batch and not is_operation and file_search.is_keyless(scope):
            await file_search.upload_chunk(state, scope, receive, send)
            return
        key = await admit(state, key, scope)
        if is_batch:
            await batches.handle_batches(state, key, scope, receive, send)
        elif is_operation:
            await operations.handle_operations(state, key, scope, receive, send)
        else:
            await file_search.handle_file_search(state, key, scope, receive, send)
    except FakeApiError as error:
        await send_answer(send, error.code, error.body())
