"""What each key's project holds on the fake: uploaded files and cached contents.

On Google a file or a cached content lives in the Cloud project of the key that created it, and
any other project gets 403 for it, from the Files API and from generateContent alike. The fake
gives every API key its own project, which is what the gateway's credential affinity is tested
against. File bytes are never kept: an upload is counted and hashed as it streams in, and only
its first bytes are held, so a 30 MB upload costs the fake almost nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from gemini_gateway.fake_upstream.errors import FakeApiError, Json
from gemini_gateway.fake_upstream.proto_json import (
    COUNT_TOKENS_REQUEST,
    GENERATE_CONTENT_REQUEST,
    parse_body,
)

FILE_LIFETIME_SECONDS = 48 * 3600  # Google deletes uploaded files after two days
HEAD_BYTES = 64  # of each upload, kept so tests can see what arrived
KEEP_BYTES = 1024 * 1024  # uploads up to this size are kept whole: a batch reads its input file
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# A Files API file as a part names it: the full uri, or the bare resource name.
FILE_URI = re.compile(r"^(?:https?://[^/]+/v1(?:beta)?/)?files/([a-z0-9-]+)$")


def rfc3339(moment: float) -> str:
    """Proto3 JSON Timestamp, with microseconds, as Google writes them."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(length: int = 12) -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def file_denied(file_id: str) -> FakeApiError:
    """Google's answer for a file of another project, or none at all: the two look the same."""
    return FakeApiError(403, f"You do not have permission to access the File {file_id} or it may not exist.")


def cache_denied() -> FakeApiError:
    return FakeApiError(403, "CachedContent not found (or permission denied)")


@dataclass(slots=True)
class StoredFile:
    id: str
    display_name: str | None
    mime_type: str
    size: int
    sha256_hex: str
    head: bytes
    created: float
    base_url: str  # scheme://host the file's uri names, as the caller reached the fake
    version: str = "v1beta"  # the API version it was uploaded through, which its uri names
    expires: float = 0.0
    content: bytes | None = None  # the whole file, when small (KEEP_BYTES) or generated
    source: str = "UPLOADED"

    def __post_init__(self) -> None:
        self.expires = self.expires or self.created + FILE_LIFETIME_SECONDS

    @property
    def name(self) -> str:
        return f"files/{self.id}"

    def to_json(self) -> Json:
        data: Json = {"name": self.name}
        if self.display_name:
            data["displayName"] = self.display_name
        data.update(
            {
                "mimeType": self.mime_type,
                "sizeBytes": str(self.size),  # int64 -> string in proto3 JSON
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.created),
                "expirationTime": rfc3339(self.expires),
                # Google's bytes field carries the hex digest's text, base64 encoded.
                "sha256Hash": base64.b64encode(self.sha256_hex.encode()).decode(),
                "uri": f"{self.base_url}/{self.version}/{self.name}",
                "state": "ACTIVE",
                "source": self.source,
            }
        )
        if self.source == "GENERATED":
            data["downloadUri"] = f"{self.base_url}/download/{self.version}/{self.name}:download?alt=media"
        return data


@dataclass(slots=True)
class StoredCache:
    id: str
    model: str  # "models/gemini-2.5-flash"
    display_name: str | None
    created: float
    updated: float
    expires: float
    tokens: int

    @property
    def name(self) -> str:
        return f"cachedContents/{self.id}"

    def to_json(self) -> Json:
        data: Json = {"name": self.name, "model": self.model}
        if self.display_name:
            data["displayName"] = self.display_name
        data.update(
            {
                "createTime": rfc3339(self.created),
                "updateTime": rfc3339(self.updated),
                "expireTime": rfc3339(self.expires),
                "usageMetadata": {"totalTokenCount": self.tokens},
            }
        )
        return data


@dataclass(slots=True)
class UploadSession:
    """A resumable upload between its start and its finalize."""

    id: str
    key: str
    file_id: str
    display_name: str | None
    mime_type: str
    declared_size: int | None
    base_url: str
    version: str = "v1beta"
    received: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    head: bytearray = field(default_factory=bytearray)
    kept: bytearray | None = field(default_factory=bytearray)  # the whole upload while it is small
    result: StoredFile | None = None  # set once finalized

    def take(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self.hasher.update(chunk)
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        if self.kept is not None:
            self.kept = self.kept + chunk if self.received <= KEEP_BYTES else None


@dataclass(slots=True)
class Project:
    files: dict[str, StoredFile] = field(default_factory=dict)  # by id
    caches: dict[str, StoredCache] = field(default_factory=dict)  # by id
    # Batches and File Search stores by id (fake_upstream/batches.py, file_search.py).
    batches: dict[str, Any] = field(default_factory=dict)
    stores: dict[str, Any] = field(default_factory=dict)
    # Long-running operations by full name (fake_upstream/operations.py).
    operations: dict[str, Any] = field(default_factory=dict)

    def add_generated_file(
        self,
        file_id: str,
        display_name: str | None,
        mime_type: str,
        content: bytes,
        base_url: str,
        version: str,
    ) -> StoredFile:
        """A file the fake made itself (a batch's responses, a generated video), kept whole: Google
        marks such files GENERATED, and a client can only download them (`downloadUri`)."""
        stored = StoredFile(
            id=file_id,
            display_name=display_name,
            mime_type=mime_type,
            size=len(content),
            sha256_hex=hashlib.sha256(content).hexdigest(),
            head=content[:HEAD_BYTES],
            created=time.time(),
            base_url=base_url,
            version=version,
            content=content,
            source="GENERATED",
        )
        self.files[stored.id] = stored
        return stored

    def live_files(self, now: float) -> list[StoredFile]:
        for expired in [i for i, f in self.files.items() if f.expires <= now]:
            del self.files[expired]
        return sorted(self.files.values(), key=lambda f: f.created, reverse=True)

    def live_caches(self, now: float) -> list[StoredCache]:
        for expired in [i for i, c in self.caches.items() if c.expires <= now]:
            del self.caches[expired]
        return sorted(self.caches.values(), key=lambda c: c.created, reverse=True)


@dataclass(slots=True)
class VertexCall:
    """A call that came in Vertex AI express shape (`/v1/publishers/google/models/...`)."""

    key: str | None
    version: str
    model: str
    method: str
    key_in_query: bool


class Projects:
    """Every project of one fake, by API key; also the open upload sessions and the Vertex log."""

    def __init__(self) -> None:
        self._projects: dict[str, Project] = {}
        self.uploads: dict[str, UploadSession] = {}
        self.store_uploads: dict[str, Any] = {}  # File Search store uploads (file_search.py)
        self.vertex_calls: list[VertexCall] = []
        self._lock = threading.Lock()  # tests read from another thread

    def project(self, key: str) -> Project:
        with self._lock:
            return self._projects.setdefault(key, Project())

    def owner_of(self, name: str) -> str | None:
        """The key whose project holds `files/x`, `cachedContents/x`, `batches/x` or
        `fileSearchStores/x`, or the operation `models/m/operations/x` / `operations/x` (for tests)."""
        kind, _, ident = name.partition("/")
        if kind == "operations" or "/operations/" in name:
            kind, ident = "operations", name
        attribute = {
            "files": "files",
            "batches": "batches",
            "fileSearchStores": "stores",
            "operations": "operations",
        }.get(kind, "caches")
        with self._lock:
            for key, project in self._projects.items():
                if ident in getattr(project, attribute):
                    return key
        return None

    def stored_file(self, name: str) -> StoredFile | None:
        key = self.owner_of(name)
        return self.project(key).files.get(name.removeprefix("files/")) if key else None

    def clear(self) -> None:
        with self._lock:
            self._projects.clear()
            self.uploads.clear()
            self.store_uploads.clear()
            self.vertex_calls.clear()

    def check_references(self, key: str, rpc: str, model_id: str | None, body: bytes) -> None:
        """403 for a file or cached content this key's project does not hold, as Google does."""
        if b"files/" not in body and b'achedContent"' not in body and b'ached_content"' not in body:
            return  # nothing named: the common case costs a few byte scans
        try:
            request = parse_body(
                body, COUNT_TOKENS_REQUEST if rpc == "countTokens" else GENERATE_CONTENT_REQUEST
            )
        except FakeApiError:
            return  # the generation path reports malformed bodies itself
        request = request.get("generateContentRequest") or request
        project = self.project(key)
        now = time.time()
        check_files(project, request.get("contents") or (), now)
        cached = request.get("cachedContent")
        if isinstance(cached, str) and cached:
            cache = project.caches.get(cached.removeprefix("cachedContents/"))
            if cache is None or cache.expires <= now:
                raise cache_denied()
            if model_id and cache.model != f"models/{model_id}":
                raise FakeApiError(
                    400,
                    f"Model used by GenerateContent request (models/{model_id}) and CachedContent "
                    f"({cache.model}) has to be the same.",
                )
            if any(request.get(k) for k in ("systemInstruction", "tools", "toolConfig")):
                raise FakeApiError(
                    400,
                    "CachedContent can not be used with GenerateContent request setting system_instruction, "
                    "tools or tool_config.\n\nProposed fix: move those values to CachedContent from "
                    "GenerateContent request.",
                )


def check_files(project: Project, contents: Any, now: float) -> None:
    """403 for the first Files API file the contents name that `project` does not hold."""
    for content in contents:
        for part in content.get("parts") or ():
            uri = (part.get("fileData") or {}).get("fileUri")
            match = FILE_URI.match(uri) if isinstance(uri, str) else None
            if match is not None:
                stored = project.files.get(match.group(1))
                if stored is None or stored.expires <= now:
                    raise file_denied(match.group(1))


def json_body(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2)
