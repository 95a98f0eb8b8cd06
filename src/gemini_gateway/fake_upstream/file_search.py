"""File Search stores on the fake: stores, their documents and operations, uploads into a store
(the Files API's resumable protocol, chunks keyless with the upload id as the capability),
importing an uploaded file, and the 403 a generateContent gets for a store of another project.

Operations finish on their first poll; a document is STATE_PENDING until then and STATE_ACTIVE
after, so a client's `while not operation.done` loop runs once.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson

from gemini_gateway.fake_upstream.asgi import Receive, Scope, Send
from gemini_gateway.fake_upstream.errors import FakeApiError, Json, invalid_argument, route_not_found
from gemini_gateway.fake_upstream.files import (
    base_url,
    body_chunks,
    header,
    paged_list,
    read_small,
    send_answer,
    send_upload_started,
)
from gemini_gateway.fake_upstream.projects import FILE_URI, Project, file_denied, json_body, new_id, rfc3339

_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main."
_PATH = re.compile(
    r"^(?P<upload>/upload)?/(?P<version>v1beta|v1)/fileSearchStores"
    r"(?:/(?P<store>[^/:]+)(?::(?P<verb>uploadToFileSearchStore|importFile))?"
    r"(?P<rest>/documents(?:/[^/:]+)?|/operations/[^/:]+|/upload/operations/[^/:]+)?)?$"
)
STORE_MARK = b"fileSearchStores/"


def store_denied(store_id: str) -> FakeApiError:
    return FakeApiError(
        403, f"You do not have permission to access the FileSearchStore {store_id} or it may not exist."
    )


@dataclass(slots=True)
class StoredDocument:
    id: str
    store_id: str
    display_name: str | None
    mime_type: str
    size: int
    created: float
    active: bool = False

    @property
    def name(self) -> str:
        return f"fileSearchStores/{self.store_id}/documents/{self.id}"

    def to_json(self) -> Json:
        data: Json = {"name": self.name}
        if self.display_name:
            data["displayName"] = self.display_name
        data.update(
            {
                "state": "STATE_ACTIVE" if self.active else "STATE_PENDING",
                "sizeBytes": str(self.size),
                "mimeType": self.mime_type,
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.created),
            }
        )
        return data


@dataclass(slots=True)
class StoredStore:
    id: str
    display_name: str | None
    created: float
    documents: dict[str, StoredDocument] = field(default_factory=dict)
    operations: dict[str, tuple[str, StoredDocument]] = field(default_factory=dict)  # name -> (kind, doc)

    @property
    def name(self) -> str:
        return f"fileSearchStores/{self.id}"

    def to_json(self) -> Json:
        data: Json = {"name": self.name}
        if self.display_name:
            data["displayName"] = self.display_name
        active = sum(1 for d in self.documents.values() if d.active)
        data.update(
            {
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.created),
                "activeDocumentsCount": str(active),
                "pendingDocumentsCount": str(len(self.documents) - active),
                "sizeBytes": str(sum(d.size for d in self.documents.values())),
            }
        )
        return data

    def add(self, kind: str, display_name: str | None, mime: str, size: int) -> Json:
        """A new document and the operation that indexes it (`upload/operations` or `operations`)."""
        document = StoredDocument(
            _slug(display_name) + new_id(8), self.id, display_name, mime, size, time.time()
        )
        self.documents[document.id] = document
        operation = f"{self.name}/{kind}/{new_id(16)}"
        self.operations[operation] = (kind, document)
        return _operation(operation, kind, document, done=False)


@dataclass(slots=True)
class StoreUpload:
    id: str
    key: str
    store_id: str
    display_name: str | None
    mime_type: str
    declared: int | None
    received: int = 0


def _slug(text: str | None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:30]
    return f"{slug}-" if slug else ""


def _operation(name: str, kind: str, document: StoredDocument, *, done: bool) -> Json:
    response_type = "UploadToFileSearchStoreResponse" if kind == "upload/operations" else "ImportFileResponse"
    operation: Json = {"name": name, "done": done}
    if done:
        operation["response"] = {
            "@type": _TYPE + response_type,
            "parent": f"fileSearchStores/{document.store_id}",
            "documentName": document.name,
        }
    return operation


def claims(path: str) -> bool:
    return _PATH.match(path) is not None


def is_keyless(scope: Scope) -> bool:
    """A later request of a resumable upload: the upload id, not a key, says whose it is."""
    return scope["path"].startswith("/upload/") and b"upload_id=" in scope["query_string"]


def rpc_name(scope: Scope) -> str:
    match = _PATH.match(scope["path"])
    if match is None:
        return "fileSearchStores"
    if match["verb"]:
        return "uploadChunk" if is_keyless(scope) else match["verb"]
    if match["rest"]:
        return "getOperation" if "operations" in match["rest"] else "documents"
    if match["store"]:
        return {"GET": "getFileSearchStore", "DELETE": "deleteFileSearchStore"}.get(scope["method"], "store")
    return "createFileSearchStore" if scope["method"] == "POST" else "listFileSearchStores"


async def upload_chunk(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """`upload`, `upload, finalize` or `query` of a store upload, without a key."""
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    uploads: dict[str, StoreUpload] = state.projects.store_uploads
    session = uploads.get(query.get("upload_id", ""))
    if session is None:
        async for _ in body_chunks(receive):
            pass
        raise FakeApiError(404, "Upload session not found or already finished.")
    commands = {c.strip() for c in (header(scope, b"x-goog-upload-command") or "").lower().split(",")}
    if "upload" in commands:
        offset = header(scope, b"x-goog-upload-offset") or "0"
        if not offset.isdigit() or int(offset) != session.received:
            raise FakeApiError(
                400, f"Invalid offset {offset}: {session.received} bytes were received so far."
            )
        async for chunk in body_chunks(receive):
            session.received += len(chunk)
    progress = [(b"x-goog-upload-size-received", str(session.received).encode())]
    if "finalize" not in commands:
        await send_answer(send, 200, b"", [(b"x-goog-upload-status", b"active"), *progress])
        return
    if session.declared is not None and session.declared != session.received:
        raise invalid_argument(
            f"Upload size mismatch: {session.received} received, {session.declared} declared."
        )
    del uploads[session.id]
    store = state.projects.project(session.key).stores.get(session.store_id)
    if store is None:
        raise store_denied(session.store_id)
    operation = store.add("upload/operations", session.display_name, session.mime_type, session.received)
    await send_answer(send, 200, json_body(operation), [(b"x-goog-upload-status", b"final"), *progress])


async def handle_file_search(state: Any, key: str, scope: Scope, receive: Receive, send: Send) -> None:
    """One keyed call on a File Search route."""
    match = _PATH.match(scope["path"])
    assert match is not None  # claims() said so
    method = scope["method"]
    project: Project = state.projects.project(key)
    query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
    if match["store"] is None:
        if method == "POST":
            answer = _create(project, await read_small(receive))
        elif method == "GET":
            answer = _list(project, query)
        else:
            raise route_not_found()
        await send_answer(send, 200, answer)
        return
    store = project.stores.get(match["store"])
    if store is None:
        raise store_denied(match["store"])
    verb, rest = match["verb"], match["rest"]
    if verb == "uploadToFileSearchStore" and method == "POST" and match["upload"]:
        await _start_upload(state, key, store, scope, receive, send)
        return
    if verb == "importFile" and method == "POST" and not match["upload"]:
        answer = _import(project, store, await read_small(receive))
    elif verb or match["upload"]:
        raise route_not_found()
    elif rest is None:
        answer = _one_store(project, store, method, query)
    elif "operations" in rest:
        if method != "GET":
            raise route_not_found()
        answer = _poll(store, f"{store.name}{rest}")
    else:
        answer = _documents(store, rest, method, query)
    await send_answer(send, 200, answer)


def _create(project: Project, body: bytes) -> bytes:
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise invalid_argument("Invalid JSON payload received.") from None
    name = data.get("displayName") or data.get("display_name") if isinstance(data, dict) else None
    store = StoredStore(_slug(name) + new_id(12), name, time.time())
    project.stores[store.id] = store
    return json_body(store.to_json())


def _list(project: Project, query: dict[str, str]) -> bytes:
    stores = sorted(project.stores.values(), key=lambda s: s.created, reverse=True)
    return paged_list(stores, "fileSearchStores", query, 10, 20, StoredStore.to_json)


def _one_store(project: Project, store: StoredStore, method: str, query: dict[str, str]) -> bytes:
    if method == "GET":
        return json_body(store.to_json())
    if method != "DELETE":
        raise route_not_found()
    if store.documents and query.get("force", "").lower() != "true":
        raise FakeApiError(
            400,
            f"Cannot delete {store.name}: it holds documents. Set force to delete them with it.",
            status="FAILED_PRECONDITION",
        )
    del project.stores[store.id]
    return json_body({})


def _poll(store: StoredStore, name: str) -> bytes:
    found = store.operations.get(name)
    if found is None:
        raise FakeApiError(404, f"Operation {name} not found.")
    kind, document = found
    document.active = True  # indexed by the time anyone asks
    return json_body(_operation(name, kind, document, done=True))


def _documents(store: StoredStore, rest: str, method: str, query: dict[str, str]) -> bytes:
    doc_id = rest.removeprefix("/documents").lstrip("/")
    if not doc_id:
        if method != "GET":
            raise route_not_found()
        documents = sorted(store.documents.values(), key=lambda d: d.created)
        return paged_list(documents, "documents", query, 10, 20, StoredDocument.to_json)
    document = store.documents.get(doc_id)
    if document is None:
        raise FakeApiError(404, f"Document {store.name}/documents/{doc_id} not found.")
    if method == "GET":
        return json_body(document.to_json())
    if method == "DELETE":
        del store.documents[doc_id]
        return json_body({})
    raise route_not_found()


def _import(project: Project, store: StoredStore, body: bytes) -> bytes:
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise invalid_argument("Invalid JSON payload received.") from None
    name = (data.get("fileName") or data.get("file_name")) if isinstance(data, dict) else None
    match = FILE_URI.match(name) if isinstance(name, str) else None
    if match is None:
        raise invalid_argument("* ImportFileRequest.file_name: file_name is required", "file_name")
    stored = project.files.get(match.group(1))
    if stored is None:
        raise file_denied(match.group(1))
    return json_body(store.add("operations", stored.display_name or stored.id, stored.mime_type, stored.size))


async def _start_upload(
    state: Any, key: str, store: StoredStore, scope: Scope, receive: Receive, send: Send
) -> None:
    if (header(scope, b"x-goog-upload-protocol") or "").lower() != "resumable":
        raise invalid_argument("Uploads into a File Search store use X-Goog-Upload-Protocol: resumable.")
    if (header(scope, b"x-goog-upload-command") or "").lower() != "start":
        raise FakeApiError(400, "A resumable upload starts with X-Goog-Upload-Command: start.")
    body = await read_small(receive)
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise invalid_argument("Invalid JSON payload received.") from None
    data = data if isinstance(data, dict) else {}
    size = header(scope, b"x-goog-upload-header-content-length")
    mime = (
        header(scope, b"x-goog-upload-header-content-type") or data.get("mimeType") or data.get("mime_type")
    )
    session = StoreUpload(
        id=new_id(24),
        key=key,
        store_id=store.id,
        display_name=data.get("displayName") or data.get("display_name"),
        mime_type=str(mime or "application/octet-stream"),
        declared=int(size) if size and size.isdigit() else None,
    )
    state.projects.store_uploads[session.id] = session
    url = f"{base_url(scope)}{scope['path']}?upload_id={quote(session.id)}&upload_protocol=resumable"
    await send_upload_started(send, url)


def check_stores(project: Project, body: bytes) -> None:
    """403 for a File Search store the tools of a generateContent (`fileSearch`) or of an
    interaction (`{"type": "file_search", ...}`) name that `project` does not hold."""
    if STORE_MARK not in body:
        return
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return
    for tool in request.get("tools") or () if isinstance(request, dict) else ():
        search = (
            (
                tool.get("fileSearch")
                or tool.get("file_search")
                or (tool if tool.get("type") == "file_search" else None)
            )
            if isinstance(tool, dict)
            else None
        )
        if not isinstance(search, dict):
            continue
        names = search.get("fileSearchStoreNames") or search.get("file_search_store_names") or ()
        for name in names:
            store_id = str(name).removeprefix("fileSearchStores/")
            if store_id not in project.stores:
                raise store_denied(store_id)
