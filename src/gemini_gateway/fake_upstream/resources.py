"""Routing of the fake's project resources: `/upload/{v}/files`, `/{v}/files`, `/{v}/cachedContents`
for `v` in v1beta and v1 (the google-genai SDK uses v1 by default and Google serves both).

The same front-end order as the model routes: route, API key, scripted faults, then the handler.
Resumable upload requests after the start carry no key on Google: the upload id in the URL is the
capability, so they are accepted with or without one.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from gemini_gateway.fake_upstream import cached_contents, files
from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import FakeApiError, key_invalid, missing_key, route_not_found
from gemini_gateway.fake_upstream.faults import TIMING_FAULTS, fault_error
from gemini_gateway.fake_upstream.files import header, send_answer
from gemini_gateway.fake_upstream.state import CallRecord, FakeState

RESOURCE_PREFIXES = tuple(
    f"{root}/{version}/{kind}"
    for version in ("v1beta", "v1")
    for root, kind in (("/upload", "files"), ("", "files"), ("", "cachedContents"))
)
_FILE_ROUTES = {"GET": "getFile", "DELETE": "deleteFile"}
_CACHE_ROUTES = {"GET": "getCachedContent", "PATCH": "updateCachedContent", "DELETE": "deleteCachedContent"}


async def handle_resources(state: FakeState, scope: Scope, receive: Receive, send: Send) -> None:
    query = dict(parse_qsl(scope["query_string"].decode("latin-1"))) if scope["query_string"] else {}
    key = header(scope, b"x-goog-api-key") or query.get("key")
    try:
        if scope["path"].startswith("/upload/"):
            await _upload(state, key, query, scope, receive, send)
        else:
            await _resource(state, key, query, scope, receive, send)
    except FakeApiError as error:
        await send_answer(send, error.code, error.body())


def _version(scope: Scope) -> str:
    """v1beta or v1, from `/upload/{v}/...` or `/{v}/...`."""
    parts: list[str] = scope["path"].split("/")
    return parts[2] if parts[1] == "upload" else parts[1]


def _route(scope: Scope) -> tuple[str, str | None]:
    """(rpc, resource id) for a non-upload path; raises 404 for anything else."""
    method = scope["method"]
    kind, _, ident = scope["path"].split("/", 2)[2].partition("/")
    if kind == "files":
        rpc = ("listFiles" if method == "GET" else None) if not ident else _FILE_ROUTES.get(method)
    elif kind == "cachedContents":
        table = {"GET": "listCachedContents", "POST": "createCachedContent"}
        rpc = table.get(method) if not ident else _CACHE_ROUTES.get(method)
    else:
        rpc = None
    if rpc is None or "/" in ident or ":" in ident:
        raise route_not_found()
    return rpc, ident or None


async def admit(state: FakeState, key: str | None, scope: Scope) -> str:
    """The key check and scripted faults every keyed call goes through."""
    if not key:
        raise missing_key()
    if state.valid_keys is not None and key not in state.valid_keys:
        raise key_invalid()
    fault = state.take_fault(key, None)
    if fault is not None:
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay_ms / 1000)
        elif fault.kind not in TIMING_FAULTS:
            raise fault_error(fault, None, "v1beta", "files", key)
    return key


async def _resource(
    state: FakeState, key: str | None, query: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    rpc, ident = _route(scope)
    state.record(CallRecord(key, rpc, None, False, _version(scope)))
    project = state.projects.project(await admit(state, key, scope))
    body = b""
    if rpc in ("createCachedContent", "updateCachedContent"):
        body = await files.read_small(receive, limit=64 * 1024 * 1024)
    if rpc == "listFiles":
        answer = files.list_files(project, query)
    elif rpc == "getFile":
        answer = files.get_file(project, ident or "")
    elif rpc == "deleteFile":
        answer = files.delete_file(project, ident or "")
    elif rpc == "listCachedContents":
        answer = cached_contents.list_page(project, query)
    elif rpc == "createCachedContent":
        answer = cached_contents.create(project, body)
    elif rpc == "getCachedContent":
        answer = cached_contents.get(project, ident or "")
    elif rpc == "updateCachedContent":
        answer = cached_contents.patch(project, ident or "", body, query)
    else:
        answer = cached_contents.delete(project, ident or "")
    await send_answer(send, 200, answer)


async def _upload(
    state: FakeState, key: str | None, query: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    if scope["method"] != "POST" or scope["path"].rstrip("/") != f"/upload/{_version(scope)}/files":
        raise route_not_found()
    upload_id = query.get("upload_id")
    if upload_id:
        state.record(CallRecord(key, "uploadChunk", None, False, _version(scope)))
        await files.upload_chunk(state.projects, upload_id, scope, receive, send)
        return
    state.record(CallRecord(key, "uploadFile", None, False, _version(scope)))
    key = await admit(state, key, scope)
    protocol = (header(scope, b"x-goog-upload-protocol") or query.get("uploadType") or "").lower()
    command = (header(scope, b"x-goog-upload-command") or "").lower()
    if protocol == "resumable":
        if command != "start":
            raise FakeApiError(400, "A resumable upload starts with X-Goog-Upload-Command: start.")
        await files.start_resumable(state.projects, key, scope, receive, send)
    elif protocol == "multipart":
        await files.upload_multipart(state.projects, key, scope, receive, send)
    elif protocol in ("raw", "media"):
        await files.upload_raw(state.projects, key, scope, receive, send)
    else:
        raise FakeApiError(
            400, "Upload protocol must be resumable, multipart or raw (X-Goog-Upload-Protocol)."
        )
