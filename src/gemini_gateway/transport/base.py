"""The one seam between the gateway and HTTP: `Transport`, and what its calls answer.

Callers (backends, affinity, oauth, admin) hand a method, a URL (query included), headers and a
body, and get the upstream's answer whatever its status: deciding what a 4xx means is theirs.
What can go wrong on the way is the transport's to say, once, in the gateway's own errors:

    request / stream  -> UpstreamUnreachable   no answer: connect failure, timeout (504), broken answer
    Streamed.read()   -> UpstreamUnreachable   the body, whole, could not be read
    Streamed.chunks() -> StreamCut             the body stopped part way (504 when it stalled)

Which implementation serves is chosen once, from settings, where the transports are built
(`transport.build`): the lean HTTP/1 client for model calls on direct connections, aiohttp for
the rest. A typing.Protocol and direct method calls: the seam costs the hot path nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Protocol
from urllib.parse import urlencode

from gemini_gateway.errors import UpstreamError, UpstreamUnreachable

JSON = "application/json"

# A request body: bytes, or chunks as they come (an upload streamed from the client).
Body = bytes | AsyncIterable[bytes]


class Reply(Protocol):
    """A whole answer. Header names are looked up in lower case."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> bytes: ...


class Streamed(Protocol):
    """An answer whose body is still to come. Whoever holds one must `close()` it, or read it to
    the end (which closes it): the connection goes back to the pool only after a whole answer."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; closes the answer when it ends, however it ends."""
        ...

    async def read(self) -> bytes:
        """The rest of the body, whole; closes the answer."""
        ...

    def close(self) -> None:
        """Give the connection back after a whole answer, else close it. Idempotent."""
        ...


class Transport(Protocol):
    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        total_timeout: float | None = None,
    ) -> Reply:
        """Send, read the whole answer. `total_timeout` bounds the whole call (else the transport's own
        connect and read timeouts apply)."""
        ...

    async def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body = b"",
        *,
        read_timeout: float | None = None,
    ) -> Streamed:
        """Send; return once the answer's head arrived. `read_timeout` replaces the transport's
        longest wait for the next bytes of this answer."""
        ...

    async def aclose(self) -> None: ...


def with_query(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)


def raise_for_status(reply: Reply) -> Reply:
    """The reply, or the upstream's error answer as an `UpstreamError` (kept for pass-through)."""
    if reply.status >= 400:
        raise UpstreamError(reply.status, reply.body, content_type=reply.headers.get("content-type", JSON))
    return reply


async def error_of(answer: Streamed) -> UpstreamError:
    """An error answer (status >= 400) read and closed, as an `UpstreamError`; a body that cannot
    be read is left empty, the status still says what happened."""
    try:
        body = await answer.read()
    except UpstreamUnreachable:
        body = b""
    finally:
        answer.close()
    return UpstreamError(answer.status, body, content_type=answer.headers.get("content-type", JSON))
