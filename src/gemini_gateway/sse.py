"""Server-sent events, as Google frames them and as clients must parse them.

Google ends events with CRLF CRLF (older captures: LF LF); parsers must accept `\\n\\n`,
`\\r\\n\\r\\n` and `\\r\\r`, and join multi-line `data:` fields.
"""

from __future__ import annotations

CRLF_END = b"\r\n\r\n"
LF_END = b"\n\n"


def frame(payload: bytes) -> bytes:
    """One SSE event as Google sends it."""
    return b"data: " + payload + b"\r\n\r\n"


def frames(payloads: list[bytes]) -> bytes:
    """`frame` of each payload, joined: one join in C rather than a call and a copy per event."""
    return b"data: " + b"\r\n\r\ndata: ".join(payloads) + b"\r\n\r\n" if payloads else b""


class SSEParser:
    """Incremental parser: feed raw bytes, get complete `data` payloads back."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        if buffer.startswith(b"data: "):
            payloads = self._single_lines(buffer)
            if payloads is not None:
                return payloads
        carry = b""
        if buffer.endswith(b"\r"):
            # The matching "\n" may come with the next read; splitting now would see an extra event end.
            buffer, carry = buffer[:-1], b"\r"
        if buffer.find(b"\r") >= 0:  # `bytes in bytes` raises and clears a TypeError inside on 3.11
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events = buffer.split(b"\n\n")
        self._buffer = events.pop() + carry
        return [p for event in events if (p := _data_of(event)) is not None]

    def _single_lines(self, buffer: bytes) -> list[bytes] | None:
        """The payloads of `buffer` when it is what Google sends: events of one `data: ` line each,
        one kind of blank line between them, and no line break in what follows the last. Counted
        and split in C, the same payloads `feed`'s general path finds; None for anything else."""
        sep = CRLF_END if buffer.find(b"\r") >= 0 else LF_END  # find: `in` raises inside on 3.11
        end = buffer.rfind(sep)
        if end < 0:
            return None
        rest = buffer[end + len(sep) :]
        breaks = 2 * buffer.count(sep, 0, end)  # the line breaks of the blank lines between events
        if rest.find(b"\n") >= 0 or rest.find(b"\r") >= 0 or buffer.count(b"\n", 0, end) != breaks:
            return None
        if sep is CRLF_END and buffer.count(b"\r", 0, end) != breaks:
            return None
        payloads = buffer[6:end].split(sep + b"data: ")
        if len(payloads) != breaks // 2 + 1:  # an event that does not begin with `data: `
            return None
        self._buffer = rest
        return payloads

    def close(self) -> list[bytes]:
        """Whatever complete event is left when the stream ends without a final blank line."""
        rest, self._buffer = self._buffer.strip(), b""
        if not rest:
            return []
        payload = _data_of(rest.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
        return [payload] if payload is not None else []


def _data_of(event: bytes) -> bytes | None:
    if event.startswith(b"data:") and b"\n" not in event:
        value = event[5:]
        return value[1:] if value.startswith(b" ") else value
    lines = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines) if lines else None
