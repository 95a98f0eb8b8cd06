"""The one protocol every upstream backend speaks.

A backend turns an `UpstreamCall` (a Gemini-native call: method, model, JSON body) plus one
credential from the pool into either an `UpstreamReply` (unary) or an `EventStream` (one
GenerateContentResponse JSON payload per event). Canonical form is Gemini's own wire format,
so the API-key backend forwards bytes; other backends (Code Assist, executors, page automation)
wrap and unwrap around it.

`UpstreamCall.model` is a `ModelId`: checked against the grammar where the request was parsed (see
`gemini_gateway.resource_names`), so backends put it into URLs as the path segment it is.

Errors a backend raises (see `gemini_gateway.errors`):
- `UpstreamError`       the upstream answered with an error status (body kept for pass-through)
- `UpstreamUnreachable` connect failure or timeout before an answer
- `StreamCut`           the upstream stopped mid-stream (after at least one event)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from gemini_gateway.resource_names import ModelId

if TYPE_CHECKING:
    from gemini_gateway.pool.credential import Credential
    from gemini_gateway.transport.base import Body, Streamed

JSON = "application/json"

# Methods that address a model: POST /{version}/models/{model}:{method}
MODEL_METHODS = frozenset(
    {
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
        "predict",
    }
)
# Calls on resources that live in the credential's own project (Files API, cachedContents); only
# the Gemini Developer API has them. Their transport is the caller's (see `Dispatcher.run`).
RESOURCE_METHODS = frozenset(
    {
        "files.upload",
        "files.list",
        "files.get",
        "files.delete",
        "cachedContents.create",
        "cachedContents.list",
        "cachedContents.get",
        "cachedContents.patch",
        "cachedContents.delete",
        # Batch mode, File Search stores and their long-running operations (routes/batches.py,
        # routes/file_search.py): they live in the credential's project as files do.
        "files.download",
        "batches.create",
        "batches.list",
        "batches.get",
        "batches.cancel",
        "batches.delete",
        "fileSearchStores.create",
        "fileSearchStores.list",
        "fileSearchStores.get",
        "fileSearchStores.delete",
        "fileSearchStores.upload",
        "fileSearchStores.importFile",
        "fileSearchStores.documents",
        "fileSearchStores.operations",
        # Long-running operations (routes/operations.py): Veo's predictLongRunning starts one in
        # the credential's project, and only that project can poll it.
        "predictLongRunning",
        "operations.get",
        "operations.list",
        "operations.cancel",
        "operations.delete",
    }
)
# Interactions (`/{version}/interactions`): they live in the project of the key that created them,
# like files, and only the Gemini Developer API has them (see `gemini_gateway.routes.interactions`).
INTERACTION_METHODS = frozenset(
    {"interactions.create", "interactions.get", "interactions.delete", "interactions.cancel"}
)


@dataclass(slots=True)
class UpstreamCall:
    """One Gemini-native call, independent of which credential serves it."""

    method: str  # a MODEL_METHODS name, or "models.list" / "models.get"
    model: ModelId | None = None  # bare id, e.g. "gemini-2.5-flash" (no "models/" prefix), checked
    body: bytes = b""
    api_version: str = "v1beta"
    params: dict[str, str] = field(default_factory=dict)  # query parameters to forward (never a key)
    # Ids of the only credentials that may serve: the owner of a file or cached content the call
    # names lives in one project (see `gemini_gateway.affinity`). None = any credential.
    allowed: frozenset[str] | None = None

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"


@dataclass(slots=True)
class UpstreamReply:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(slots=True)
class ResourceReply:
    status: int
    body: bytes
    headers: Mapping[str, str]  # the upstream's; names looked up in lower case
    content_type: str = JSON
    credential_id: str = ""  # which credential made the call (the owner of what it created)


class ResourceStream:
    """A resource answer whose body is relayed as it arrives (an interaction's SSE events). Owns the
    transport's answer: `close()` gives the connection back after a whole body, else closes it
    (which also stops the upstream's work)."""

    __slots__ = ("_answer", "content_type", "credential_id", "headers", "status")

    def __init__(self, answer: Streamed, credential_id: str) -> None:
        self._answer = answer
        self.status = answer.status
        self.headers = answer.headers
        self.content_type = answer.headers.get("content-type", JSON)
        self.credential_id = credential_id

    def chunks(self) -> AsyncIterator[bytes]:
        """The body in the pieces the upstream wrote; a cut body raises `StreamCut`."""
        return self._answer.chunks()

    def close(self) -> None:
        self._answer.close()


class EventStream(Protocol):
    """Async iterator of event payloads (each a GenerateContentResponse as JSON bytes).

    A stream may also offer `groups()`, the same payloads in lists as they arrived (one per
    upstream read); the dispatcher relays those as they are and groups the others itself.
    """

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Backend(Protocol):
    kind: ClassVar[str]

    def supports(self, method: str) -> bool: ...

    async def unary(self, call: UpstreamCall, credential: Credential) -> UpstreamReply:
        """Perform a non-streaming call; raise UpstreamError / UpstreamUnreachable on failure."""
        ...

    async def stream(self, call: UpstreamCall, credential: Credential) -> EventStream:
        """Open a stream; returns once the upstream accepted it (status 200), else raises."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ResourceBackend(Protocol):
    """A backend whose credentials hold Files API files and cached contents (API keys only)."""

    async def resource(
        self,
        credential: Credential,
        verb: str,
        target: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResourceReply:
        """`verb` on `target` (a path of names under the API's base URL, or an absolute upload URL);
        raises UpstreamError / UpstreamUnreachable on failure."""
        ...

    async def resource_stream(
        self,
        credential: Credential,
        verb: str,
        target: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ResourceStream:
        """`verb` on `target` like `resource`, returning once the upstream answered 2xx with the body
        still to come; an error answer is read whole and raised as `UpstreamError`."""
        ...
