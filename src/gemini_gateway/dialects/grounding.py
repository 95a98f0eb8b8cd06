"""Gemini grounding (Google Search, URL context) -> citations placed in the answer's text.

`groundingMetadata.groundingSupports[].segment` gives UTF-8 *byte* offsets (generative_service.proto,
`Segment`) while OpenAI and Anthropic count characters. Live answers measure them over the whole
answer text, across parts and stream chunks, so they are read against the text the client was
shown, and checked against the segment's own `text`: when the bytes there do not spell it (code
execution markdown shifted the text, a `partIndex` counted from another part), the segment is looked
up by its text nearest to where the offsets point. A support that cannot be placed is left out.
URL context answers carry their sources the same way (`urlContextMetadata` only lists fetch status).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gemini_gateway.dialects.common import JSON


@dataclass(frozen=True, slots=True)
class Citation:
    url: str
    title: str
    start: int  # character offsets into the answer text, end exclusive
    end: int
    source: int  # index into groundingChunks

    def shifted(self, offset: int) -> Citation:
        return Citation(self.url, self.title, self.start - offset, self.end - offset, self.source)


def citations(candidate: JSON, text: str) -> list[Citation]:
    """One citation per (support, web source), in Gemini's order, placed in `text`."""
    meta = candidate.get("groundingMetadata")
    if not isinstance(meta, dict):
        return []
    chunks = meta.get("groundingChunks")
    supports = meta.get("groundingSupports")
    if not isinstance(chunks, list) or not isinstance(supports, list) or not text:
        return []
    raw = text.encode()
    out: list[Citation] = []
    for support in supports:
        if not isinstance(support, dict) or not isinstance(support.get("segment"), dict):
            continue
        span = _locate(text, raw, support["segment"])
        if span is None:
            continue
        for index in support.get("groundingChunkIndices") or ():
            source = _web_source(chunks, index)
            if source is not None:
                out.append(Citation(source[0], source[1], span[0], span[1], index))
    return out


def split_by_segments(found: Sequence[Citation], lengths: Sequence[int]) -> list[list[Citation]]:
    """Citations over a text cut into consecutive pieces of `lengths` -> per piece, rebased.

    A citation belongs to the piece its start falls in, clipped to that piece's end.
    """
    out: list[list[Citation]] = [[] for _ in lengths]
    starts = []
    position = 0
    for length in lengths:
        starts.append(position)
        position += length
    for citation in found:
        for piece, (start, length) in enumerate(zip(starts, lengths, strict=True)):
            if start <= citation.start < start + length:
                clipped = Citation(
                    citation.url,
                    citation.title,
                    citation.start,
                    min(citation.end, start + length),
                    citation.source,
                )
                out[piece].append(clipped.shifted(start))
                break
    return out


def _web_source(chunks: list[object], index: object) -> tuple[str, str] | None:
    if not isinstance(index, int) or not 0 <= index < len(chunks):
        return None
    chunk = chunks[index]
    web = chunk.get("web") if isinstance(chunk, dict) else None
    if not isinstance(web, dict) or not isinstance(web.get("uri"), str):
        return None
    title = web.get("title")
    return web["uri"], title if isinstance(title, str) else web["uri"]


def _locate(text: str, raw: bytes, segment: JSON) -> tuple[int, int] | None:
    """(start, end) in characters of the segment in `text`, or None."""
    start_byte = segment.get("startIndex") or 0  # zero is left out on the wire
    end_byte = segment.get("endIndex") or 0
    wanted = segment.get("text")
    if not isinstance(start_byte, int) or not isinstance(end_byte, int):
        return None
    if 0 <= start_byte < end_byte <= len(raw):
        try:
            found = raw[start_byte:end_byte].decode()
            start = len(raw[:start_byte].decode())
        except UnicodeDecodeError:  # offsets cut a character: not bytes of this text
            found, start = None, len(raw[:start_byte].decode(errors="ignore"))
        if found is not None and (not isinstance(wanted, str) or found == wanted):
            return start, start + len(found)
    else:
        start = len(raw[: max(0, start_byte)].decode(errors="ignore"))
    if not isinstance(wanted, str) or not wanted:
        return None
    return _nearest(text, wanted, start)


def _nearest(text: str, wanted: str, hint: int) -> tuple[int, int] | None:
    after = text.find(wanted, hint)
    before = text.rfind(wanted, 0, hint + len(wanted) - 1) if hint else -1
    candidates = [p for p in (after, before) if p >= 0]
    if not candidates:
        return None
    best = min(candidates, key=lambda p: abs(p - hint))
    return best, best + len(wanted)
