"""Files API and cached contents through executor tabs: the routes' REST calls, as tasks.

The routes (routes/files.py, routes/caches.py) speak Google's REST to every resource backend:
`verb target` with params, body and headers. A tab gets operations instead
(docs/executor-protocol.md, *Files and cached contents*): `files.get` of a name,
`cachedContents.create` of a body and so on, which both clients can run: the key page with its
fetch, and the Build app with the environment's client, which makes no raw HTTP calls.

Uploads: the gateway plays Google's resumable protocol itself. The start answers at once with an
upload URL of the gateway's own (`executor-upload:ID`, which routes/files.py hides behind its
opaque id as it hides Google's) and opens a `files.upload` task on the tab. Each chunk the
client sends goes on to the tab in `upload` frames as it arrives, each frame waiting until it is
on the socket, so a slow tab holds the client back rather than filling the gateway's memory.
Finalize tells the tab the file is whole; the tab uploads it with its own access and its answer
(`{"file": {...}}`) is the finalize's answer. The tab holds the pieces until then (a Blob).
A one-shot upload (`uploadType=media` or `multipart`) is the same task in one request: its
metadata opens the task, its media goes on in the same frames, the end of its body is finalize.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gemini_gateway.backends.executor_hub import ExecutorConnection, ExecutorTask
from gemini_gateway.backends.executor_protocol import (
    RESOURCE_CAPABILITIES,
    UPLOAD_FRAME_BYTES,
    upload_end_frame,
    upload_frame,
)
from gemini_gateway.backends.multipart_related import split_related
from gemini_gateway.errors import GatewayError, RequestError, UpstreamError, google_error_body

UPLOAD_URL_PREFIX = "executor-upload:"
UPLOAD_IDLE_SECONDS = 3600.0  # an upload nobody continued for this long is given up on the tab
CHUNK_GRANULARITY = 8 * 1024 * 1024  # what Google announces; the SDKs send chunks of this size
_COLLECTIONS = ("files", "cachedContents")


@dataclass(slots=True)
class TabUpload:
    """A resumable upload whose bytes go to one tab's `files.upload` task."""

    connection: ExecutorConnection
    task: ExecutorTask
    size: int | None  # as the client announced it, when it did
    received: int = 0  # bytes passed on to the tab
    touched: float = field(default_factory=time.monotonic)


def resource_task(
    verb: str, target: str, params: Mapping[str, str] | None, body: bytes
) -> tuple[str, str, dict[str, Any]]:
    """(method, scope, fields) of the task for `verb target`, e.g. GET v1beta/files/abc is
    `files.get` of `files/abc` in scope `files`. Raises 501 for a call tabs are not given."""
    version, _, rest = target.partition("/")
    collection, _, ident = rest.partition("/")
    if ident:
        action = {"GET": "get", "DELETE": "delete", "PATCH": "patch"}.get(verb)
    else:
        action = {"GET": "list", "POST": "create"}.get(verb)
    method = f"{collection}.{action}"
    if collection not in _COLLECTIONS or "/" in ident or method not in RESOURCE_CAPABILITIES:
        raise GatewayError(f"executors do not relay {verb} {target}", status_code=501)
    fields = {
        "api_version": version,
        "name": f"{collection}/{ident}" if ident else None,
        "params": dict(params or {}),
        "body": _json(body) if body.strip() else None,
    }
    return method, collection, fields


def upload_start_fields(
    target: str, body: bytes, headers: Mapping[str, str]
) -> tuple[dict[str, Any], int | None]:
    """The `files.upload` task of a resumable start: the file's metadata and the announced size."""
    size_text = headers.get("x-goog-upload-header-content-length", "")
    size = int(size_text) if size_text.isdigit() else None
    return upload_fields(target, body, headers.get("x-goog-upload-header-content-type"), size), size


def upload_fields(
    target: str, metadata_body: bytes, mime_type: str | None, size: int | None
) -> dict[str, Any]:
    """The fields of a `files.upload` task, whichever protocol the client uploads by."""
    metadata = _json(metadata_body) if metadata_body.strip() else {}
    if not isinstance(metadata, dict) or not isinstance(metadata.get("file", {}), dict):
        raise RequestError('the upload\'s metadata must be a JSON object like {"file": {...}}')
    return {
        "api_version": target.split("/")[1] if target.count("/") >= 2 else "v1beta",
        "name": None,
        "params": {},
        "body": metadata,
        "upload": {"mime_type": mime_type or None, "size": size},
    }


async def one_shot_parts(
    protocol: str, body: bytes | AsyncIterable[bytes] | None, headers: Mapping[str, str]
) -> tuple[bytes, str | None, int | None, AsyncIterable[bytes]]:
    """(metadata, mime type, size, media) of a one-shot upload: `media` (or `raw`) carries the file
    alone, typed by its Content-Type; `multipart` a multipart/related body of metadata, then file.
    Only the metadata is read here; the media is passed on as it arrives."""
    pieces: AsyncIterable[bytes] = _once(body or b"") if isinstance(body, bytes | None) else body
    if protocol in ("media", "raw"):
        length = headers.get("content-length", "")
        return b"", headers.get("content-type"), int(length) if length.isdigit() else None, pieces
    if protocol == "multipart":
        parts = await split_related(headers.get("content-type", ""), pieces)
        mime_type = parts.media_type or _metadata_mime(parts.metadata)
        return parts.metadata, mime_type, None, parts.media
    raise upload_error(400, "Upload protocol must be resumable, multipart or raw (X-Goog-Upload-Protocol).")


def _metadata_mime(metadata: bytes) -> str | None:
    """The `file.mimeType` of a metadata part whose media part named no Content-Type."""
    try:
        file = orjson.loads(metadata).get("file") if metadata.strip() else None
    except (orjson.JSONDecodeError, AttributeError):
        return None  # upload_fields says what is wrong with it
    mime = file.get("mimeType") or file.get("mime_type") if isinstance(file, dict) else None
    return mime if isinstance(mime, str) else None


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RequestError("the request body is not JSON") from None


def upload_error(status: int, message: str) -> UpstreamError:
    """An answer as Google gives it to a resumable upload request it cannot take."""
    return UpstreamError(status, google_error_body(status, message))


class TabUploads:
    """Open uploads by the id in their gateway-side upload URL; idle ones are given up."""

    def __init__(self, idle_seconds: float = UPLOAD_IDLE_SECONDS) -> None:
        self.idle_seconds = idle_seconds
        self._open: dict[str, TabUpload] = {}

    def open(self, upload: TabUpload) -> str:
        self.sweep()
        key = secrets.token_urlsafe(18)
        self._open[key] = upload
        return UPLOAD_URL_PREFIX + key

    def get(self, url: str) -> TabUpload | None:
        upload = self._open.get(url.removeprefix(UPLOAD_URL_PREFIX))
        if upload is not None:
            upload.touched = time.monotonic()
        return upload

    def close(self, url: str) -> None:
        self._open.pop(url.removeprefix(UPLOAD_URL_PREFIX), None)

    def sweep(self) -> None:
        now = time.monotonic()
        for key, upload in list(self._open.items()):
            if upload.task.finished or now - upload.touched > self.idle_seconds:
                upload.connection.cancel(upload.task, "the upload was abandoned")
                del self._open[key]

    def __len__(self) -> int:
        return len(self._open)


def raise_if_ended(upload: TabUpload) -> None:
    """The tab failed the upload (or went away) before it was finished: say so."""
    if not upload.task.finished:
        return
    while not upload.task.queue.empty():
        item = upload.task.queue.get_nowait()
        if isinstance(item, GatewayError):
            raise item
    raise upload_error(404, "Upload session not found or already finished.")


async def relay_chunks(upload: TabUpload, body: bytes | AsyncIterable[bytes], wait_seconds: float) -> None:
    """Pass the client's bytes on to the tab in frames of UPLOAD_FRAME_BYTES, in order."""
    pending = bytearray()

    async def flush(count: int) -> None:
        raise_if_ended(upload)
        await upload.connection.send_now(upload_frame(upload.task.id, bytes(pending[:count])), wait_seconds)
        upload.received += count
        del pending[:count]
        if upload.size is not None and upload.received > upload.size:
            raise upload_error(
                400, f"The upload is larger than the {upload.size} bytes announced at its start."
            )

    pieces: AsyncIterable[bytes] = _once(body) if isinstance(body, bytes) else body
    async for piece in pieces:
        pending += piece
        while len(pending) >= UPLOAD_FRAME_BYTES:
            await flush(UPLOAD_FRAME_BYTES)
    if pending:
        await flush(len(pending))


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def finish_upload(upload: TabUpload, wait_seconds: float) -> None:
    raise_if_ended(upload)
    await upload.connection.send_now(upload_end_frame(upload.task.id), wait_seconds)


def progress_headers(upload: TabUpload, status: str = "active") -> dict[str, str]:
    return {"x-goog-upload-status": status, "x-goog-upload-size-received": str(upload.received)}
