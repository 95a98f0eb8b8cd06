"""The Files API on the fake: resumable, multipart and raw uploads; list, get and delete.

Upload bodies are read chunk by chunk as they arrive and never joined: each chunk is counted,
hashed and dropped (see `projects.UploadSession`).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar
from urllib.parse import quote

import orjson

from gemini_gateway.fake_upstream.asgi import JSON_HEADERS, UPLOAD_EXPOSED, Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument, invalid_json
from gemini_gateway.fake_upstream.projects import (
    Project,
    Projects,
    StoredFile,
    UploadSession,
    file_denied,
    json_body,
    new_id,
)

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
CHUNK_GRANULARITY = 8 * 1024 * 1024
MAX_METADATA_BYTES = 1024 * 1024
T = TypeVar("T")
_FILE_NAME = re.compile(r"^files/[a-z0-9-]{1,40}$")
Headers = list[tuple[bytes, bytes]]


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def base_url(scope: Scope) -> str:
    """scheme://host as the caller reached the fake, for the URLs it hands out."""
    return f"{scope.get('scheme', 'http')}://{header(scope, b'host') or 'localhost'}"


async def body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def read_small(receive: Receive, limit: int = MAX_METADATA_BYTES) -> bytes:
    data = bytearray()
    async for chunk in body_chunks(receive):
        data += chunk
        if len(data) > limit:
            raise invalid_argument("Request metadata is too large.")
    return bytes(data)


async def send_answer(send: Send, status: int, body: bytes, extra: Headers | None = None) -> None:
    headers = [*JSON_HEADERS, UPLOAD_EXPOSED, (b"content-length", str(len(body)).encode()), *(extra or ())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _metadata(body: bytes) -> Json:
    """The `{"file": {...}}` of a start or multipart request (snake or camel case)."""
    if not body.strip():
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise invalid_json("Unexpected token.") from None
    if not isinstance(data, dict) or not isinstance(data.get("file", {}), dict):
        raise invalid_json("Root element must be a message.")
    file: Json = data.get("file") or {}
    unknown = set(file) - {
        "name",
        "displayName",
        "display_name",
        "mimeType",
        "mime_type",
        "sizeBytes",
        "size_bytes",
    }
    if unknown:
        raise invalid_json(f"Unknown name \"{sorted(unknown)[0]}\" at 'file': Cannot find field.", "file")
    return file


def _new_session(
    projects: Projects,
    key: str,
    file: Json,
    mime: str | None,
    size: int | None,
    base: str,
    version: str,
) -> UploadSession:
    name = file.get("name")
    if name is not None:
        if not isinstance(name, str) or not _FILE_NAME.match(name):
            raise invalid_argument(
                "Invalid file name: must be files/ followed by at most 40 lowercase letters, digits or dashes.",
                "file.name",
            )
        if name[6:] in projects.project(key).files:
            raise FakeApiError(409, f"File {name} already exists.", status="ALREADY_EXISTS")
    mime = mime or file.get("mimeType") or file.get("mime_type")
    if not mime:
        raise invalid_argument("MIME type of the file is not specified.", "file.mime_type")
    return UploadSession(
        id=new_id(24),
        key=key,
        file_id=name[6:] if isinstance(name, str) else new_id(),
        display_name=file.get("displayName") or file.get("display_name"),
        mime_type=str(mime),
        declared_size=size,
        base_url=base,
        version=version,
    )


def _finish(projects: Projects, session: UploadSession) -> StoredFile:
    if session.declared_size is not None and session.received != session.declared_size:
        raise invalid_argument(
            f"Upload size mismatch: {session.received} bytes received, {session.declared_size} declared."
        )
    stored = StoredFile(
        id=session.file_id,
        display_name=session.display_name,
        mime_type=session.mime_type,
        size=session.received,
        sha256_hex=session.hasher.hexdigest(),
        head=bytes(session.head),
        created=time.time(),
        base_url=session.base_url,
        version=session.version,
        content=bytes(session.kept) if session.kept is not None else None,
    )
    projects.project(session.key).files[stored.id] = stored
    session.result = stored
    projects.uploads.pop(session.id, None)
    return stored


async def start_resumable(projects: Projects, key: str, scope: Scope, receive: Receive, send: Send) -> None:
    file = _metadata(await read_small(receive))
    size_text = header(scope, b"x-goog-upload-header-content-length")
    size = int(size_text) if size_text and size_text.isdigit() else None
    mime = header(scope, b"x-goog-upload-header-content-type")
    base = base_url(scope)
    version = scope["path"].split("/")[2]  # /upload/{version}/files
    session = _new_session(projects, key, file, mime, size, base, version)
    projects.uploads[session.id] = session
    url = f"{base}/upload/{version}/files?upload_id={quote(session.id)}&upload_protocol=resumable"
    await send_upload_started(send, url)


async def send_upload_started(send: Send, url: str) -> None:
    """Google's answer to a resumable start: where the chunks go, and their granularity."""
    extra = [
        (b"x-goog-upload-status", b"active"),
        (b"x-goog-upload-url", url.encode()),
        (b"x-goog-upload-control-url", url.encode()),
        (b"x-goog-upload-chunk-granularity", str(CHUNK_GRANULARITY).encode()),
    ]
    await send_answer(send, 200, b"", extra)


async def upload_chunk(
    projects: Projects, upload_id: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """One request of the resumable protocol: `upload`, `upload, finalize`, `finalize` or `query`."""
    session = projects.uploads.get(upload_id)
    if session is None:
        async for _ in body_chunks(receive):  # drained, nothing kept
            pass
        raise FakeApiError(404, "Upload session not found or already finished.")
    commands = {c.strip() for c in (header(scope, b"x-goog-upload-command") or "").lower().split(",")}
    if "query" in commands:
        await send_answer(send, 200, b"", _progress(session, "active"))
        return
    if "upload" in commands:
        offset_text = header(scope, b"x-goog-upload-offset") or "0"
        if not offset_text.isdigit() or int(offset_text) != session.received:
            raise FakeApiError(
                400, f"Invalid offset {offset_text}: {session.received} bytes were received so far."
            )
        async for chunk in body_chunks(receive):
            session.take(chunk)
    if "finalize" in commands:
        stored = _finish(projects, session)
        await send_answer(
            send, 200, json_body({"file": stored.to_json()}), [(b"x-goog-upload-status", b"final")]
        )
        return
    if "upload" not in commands:
        raise invalid_argument("X-Goog-Upload-Command must be upload, finalize, query or a combination.")
    await send_answer(send, 200, b"", _progress(session, "active"))


def _progress(session: UploadSession, status: str) -> Headers:
    return [
        (b"x-goog-upload-status", status.encode()),
        (b"x-goog-upload-size-received", str(session.received).encode()),
    ]


async def upload_multipart(projects: Projects, key: str, scope: Scope, receive: Receive, send: Send) -> None:
    """`multipart/related`: a JSON metadata part, then the media part, streamed."""
    content_type = header(scope, b"content-type") or ""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/") or match is None:
        raise invalid_argument("Multipart upload needs a multipart/related body with a boundary.")
    delimiter = b"\r\n--" + match.group(1).encode()
    chunks = body_chunks(receive)
    # A leading CRLF lets the first delimiter match like the others.
    buffer = await _read_until(b"\r\n", chunks, delimiter)
    buffer = buffer.partition(delimiter)[2]  # the preamble goes
    buffer = await _read_until(buffer, chunks, delimiter)
    metadata_part, _, buffer = buffer.partition(delimiter)
    buffer = await _read_until(buffer, chunks, b"\r\n\r\n")
    media_head, _, buffer = buffer.partition(b"\r\n\r\n")
    file = _metadata(metadata_part.partition(b"\r\n\r\n")[2])
    media_type = re.search(rb"(?im)^content-type:\s*([^\r\n;]+)", media_head)
    mime = media_type.group(1).decode("latin-1").strip() if media_type else None
    session = _new_session(projects, key, file, mime, None, base_url(scope), scope["path"].split("/")[2])
    await _stream_media(session, buffer, chunks, delimiter)
    stored = _finish(projects, session)
    await send_answer(send, 200, json_body({"file": stored.to_json()}), [(b"x-goog-upload-status", b"final")])


async def _read_until(buffer: bytes, chunks: AsyncIterator[bytes], marker: bytes) -> bytes:
    while marker not in buffer:
        chunk = await anext(chunks, None)
        if chunk is None or len(buffer) > MAX_METADATA_BYTES:
            raise invalid_argument("Malformed multipart body.")
        buffer += chunk
    return buffer


async def _stream_media(
    session: UploadSession, start: bytes, chunks: AsyncIterator[bytes], delimiter: bytes
) -> None:
    """Feed the media part to `session` up to the closing delimiter, holding only a short tail."""
    keep = len(delimiter)
    pending = start
    while True:
        end = pending.find(delimiter)
        if end >= 0:
            session.take(pending[:end])
            return
        if len(pending) > keep:
            session.take(pending[:-keep])
            pending = pending[-keep:]
        chunk = await anext(chunks, None)
        if chunk is None:
            raise invalid_argument("Malformed multipart body: no closing boundary.")
        pending += chunk


async def upload_raw(projects: Projects, key: str, scope: Scope, receive: Receive, send: Send) -> None:
    """`X-Goog-Upload-Protocol: raw`: the body is the media, with no metadata."""
    mime = header(scope, b"content-type")
    session = _new_session(projects, key, {}, mime, None, base_url(scope), scope["path"].split("/")[2])
    async for chunk in body_chunks(receive):
        session.take(chunk)
    stored = _finish(projects, session)
    await send_answer(send, 200, json_body({"file": stored.to_json()}), [(b"x-goog-upload-status", b"final")])


def list_files(project: Project, query: dict[str, str]) -> bytes:
    files = project.live_files(time.time())
    return paged_list(files, "files", query, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, StoredFile.to_json)


def get_file(project: Project, file_id: str) -> bytes:
    stored = project.files.get(file_id)
    if stored is None or stored.expires <= time.time():
        raise file_denied(file_id)
    return json_body(stored.to_json())


def delete_file(project: Project, file_id: str) -> bytes:
    if project.files.pop(file_id, None) is None:
        raise file_denied(file_id)
    return json_body({})


def paged_list(
    items: Sequence[T],
    key: str,
    query: dict[str, str],
    default: int,
    maximum: int,
    to_json: Callable[[T], Json],
) -> bytes:
    """One page of a list call as Google answers it: `{key: [...], "nextPageToken"}`, each left out
    when it would be empty (an empty list answers `{}`), the page sized and placed by `page_window`."""
    size, offset = page_window(query, default, maximum)
    page: Json = {}
    if items[offset : offset + size]:
        page[key] = [to_json(item) for item in items[offset : offset + size]]
    if offset + size < len(items):
        page["nextPageToken"] = page_token(offset + size)
    return json_body(page)


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def page_window(query: dict[str, str], default: int, maximum: int) -> tuple[int, int]:
    """(page size, offset) from `pageSize` and `pageToken`, with Google's clamping."""
    text = query.get("pageSize") or query.get("page_size") or ""
    try:
        size = int(text) if text else 0
    except ValueError:
        raise invalid_json(f"Invalid value at 'page_size' (TYPE_INT32), \"{text}\"") from None
    if size < 0:
        raise invalid_argument("page_size must not be negative")
    token = query.get("pageToken") or query.get("page_token") or ""
    offset = 0
    if token:
        try:
            decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        if not decoded.startswith("o") or not decoded[1:].isdigit():
            raise invalid_argument("Invalid page token.")
        offset = int(decoded[1:])
    return min(size or default, maximum), offset
