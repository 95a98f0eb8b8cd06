"""The one protocol every upstream backend speaks.

A backend turns an `UpstreamCall` (a Gemini-native call: method, model, JSON body) plus one
credential from the pool into either an `UpstreamReply` (unary) or an `EventStream` (one
GenerateContentResponse JSON payload per event). Canonical form is Gemini's own wire format,
so the API-key backend forwards bytes; other backends (Code Assist, executors, page automation)
wrap and unwrap around it.

Building an `UpstreamCall` raises a 400 `RequestError` for a model that is not a model id (see
`gemini_gateway.resource_names`); backends put `call.model` into URLs only as a path segment.

Errors a backend raises (see `gemini_gateway.errors`):
- `UpstreamError`       the upstream answered with an error status (body kept for pass-through)
- `UpstreamUnreachable` connect failure or timeout before an answer
- `StreamCut`           the upstream stopped mid-stream (after at least one event)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from gemini_gateway.errors import UpstreamUnreachable
from gemini_gateway.resource_names import bare_model_id

if TYPE_CHECKING:
    from gemini_gateway.pool.credential import Credential

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
    }
)


@dataclass(slots=True)
class UpstreamCall:
    """One Gemini-native call, independent of which credential serves it."""

    method: str  # a MODEL_METHODS name, or "models.list" / "models.get"
    model: str | None = None  # bare id, e.g. "gemini-2.5-flash" (no "models/" prefix)
    body: bytes = b""
    api_version: str = "v1beta"
    params: dict[str, str] = field(default_factory=dict)  # query parameters to forward (never a key)
    # Ids of the only credentials that may serve: the owner of a file or cached content the call
    # names lives in one project (see `gemini_gateway.affinity`). None = any credential.
    allowed: frozenset[str] | None = None

    def __post_init__(self) -> None:
        # The model goes into the upstream's URL: every call is checked against the grammar where
        # it is built, so no backend ever sees a name that could reshape its request line.
        if self.model is not None:
            bare_model_id(self.model)

    @property
    def stream(self) -> bool:
        return self.method == "streamGenerateContent"


@dataclass(slots=True)
class UpstreamReply:
    status: int
    body: bytes
    content_type: str = "application/json"


class StreamCut(UpstreamUnreachable):
    """The upstream connection ended before the stream finished."""


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
