"""A streaming reader of the Files API's one-shot `multipart/related` body: JSON metadata, then media.

The metadata part is small and read whole; the media part is handed on piece by piece as it
arrives, keeping back only as many bytes as the closing delimiter has, so a large file never sits
in the gateway's memory. The fake upstream reads the same framing (fake_upstream/files.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from gemini_gateway.errors import UpstreamError, google_error_body

HEAD_LIMIT = 1024 * 1024  # the metadata part and the media part's headers together
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"(?im)^content-type:\s*([^\r\n;]+)")


@dataclass(slots=True)
class RelatedParts:
    metadata: bytes  # the first part's body (JSON, as the client sent it)
    media_type: str | None  # the second part's Content-Type, without parameters
    media: AsyncIterator[bytes]  # the second part's body, as it arrives


def malformed(message: str) -> UpstreamError:
    """Google's answer to a body it cannot read: 400 INVALID_ARGUMENT."""
    return UpstreamError(400, google_error_body(400, message))


async def split_related(content_type: str, body: AsyncIterable[bytes]) -> RelatedParts:
    """Read up to the start of the media part; raises 400 for a body that is not multipart/related."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/") or match is None:
        raise malformed("Multipart upload needs a multipart/related body with a boundary.")
    delimiter = b"\r\n--" + match.group(1).encode("latin-1")
    chunks = aiter(body)
    # A leading CRLF lets the first delimiter match like the others; the preamble goes.
    buffer = (await _read_until(b"\r\n", chunks, delimiter)).partition(delimiter)[2]
    buffer = await _read_until(buffer, chunks, delimiter)
    metadata_part, _, buffer = buffer.partition(delimiter)
    buffer = await _read_until(buffer, chunks, b"\r\n\r\n")
    if buffer.startswith(b"--"):
        raise malformed("Malformed multipart body: the media part is missing.")
    media_head, _, buffer = buffer.partition(b"\r\n\r\n")
    found = _CONTENT_TYPE.search(media_head)
    return RelatedParts(
        metadata=metadata_part.partition(b"\r\n\r\n")[2],
        media_type=found.group(1).decode("latin-1").strip() if found else None,
        media=_media(buffer, chunks, delimiter),
    )


async def _read_until(buffer: bytes, chunks: AsyncIterator[bytes], marker: bytes) -> bytes:
    while marker not in buffer:
        chunk = await anext(chunks, None)
        if chunk is None or len(buffer) > HEAD_LIMIT:
            raise malformed("Malformed multipart body.")
        buffer += chunk
    return buffer


async def _media(start: bytes, chunks: AsyncIterator[bytes], delimiter: bytes) -> AsyncIterator[bytes]:
    """The media part up to the closing delimiter; a body that ends without one is an error."""
    keep = len(delimiter)
    pending = start
    while True:
        end = pending.find(delimiter)
        if end >= 0:
            if end:
                yield pending[:end]
            return
        if len(pending) > keep:
            yield pending[:-keep]
            pending = pending[-keep:]
        chunk = await anext(chunks, None)
        if chunk is None:
            raise malformed("Malformed multipart body: no closing boundary.")
        pending += chunk
