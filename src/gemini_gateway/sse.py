"""Server-sent events, as Google frames them and as clients must parse them.

Google ends events with CRLF CRLF (older captures: LF LF); parsers must accept `\\n\\n`,
`\\r\\n\\r\\n` and `\\r\\r`, and join multi-line `data:` fields.
"""

from __future__ import annotations


def frame(payload: bytes) -> bytes:
    """One SSE event as Google sends it."""
    return b"data: " + payload + b"\r\n\r\n"


class SSEParser:
    """Incremental parser: feed raw bytes, get complete `data` payloads back."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data
        carry = b""
        if buffer.endswith(b"\r"):
            # The matching "\n" may come with the next read; splitting now would see an extra event end.
            buffer, carry = buffer[:-1], b"\r"
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events = buffer.split(b"\n\n")
        self._buffer = events.pop() + carry
        return [p for event in events if (p := _data_of(event)) is not None]

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
