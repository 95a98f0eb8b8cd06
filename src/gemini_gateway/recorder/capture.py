"""What the request path keeps about one exchange: references, counters and clock readings.

Nothing here parses, copies or compresses: the middleware appends references to the byte chunks
that pass anyway, and the writer turns a `Capture` into rows later, off the request path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gemini_gateway.exchange import Exchange

Mode = Literal["full", "metadata"]


@dataclass(slots=True)
class Capture:
    mode: Mode
    scope: dict[str, Any]  # method, path, query_string and headers are read from it later
    exchange: Exchange
    cap: int  # bytes of each body worth keeping; beyond it only sizes are counted
    request_chunks: list[bytes] = field(default_factory=list)
    request_size: int = 0
    status: int | None = None
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    response_chunks: list[bytes] = field(default_factory=list)
    response_size: int = 0
    chunk_count: int = 0
    first_byte: float | None = None  # perf_counter of the first non-empty response body chunk
    finished: float = 0.0  # perf_counter when the app returned
    failure: str | None = None  # exception that escaped the app, by name and message
    complete: bool = False  # the last response body chunk was sent
    disconnected: bool = False  # the client went away before the response was complete
    record_id: str | None = None  # given before a hand-over to the writer process, so a resend is a no-op
    # What it settles under (see sink.py): in the gateway its journal segment once sealed (-1: the
    # write failed; see journal.py), in the writer process the number of the frame it came in.
    journal: int | None = None
    # The journal entry's pickled wire tuple (credentials masked), which the writer process is sent
    # as it is, and what the exchange looked like when it was made (see `Recorder.seal`).
    sealed: bytes | None = None
    sealed_as: tuple[Any, ...] | None = None
    # Tokens the caller presented (see rows.presented_tokens), handed with a sealed wire to the
    # writer process (in memory only), where its headers show them masked already.
    presented: tuple[str, ...] = ()


def sealed_state(capture: Capture) -> tuple[Any, ...]:
    """What of an exchange may still change once its last byte is sent: a sealed wire that no longer
    matches is made again for the writer process (the journal's copy is for a crash only)."""
    exchange = capture.exchange
    return (exchange.status, exchange.error, len(exchange.attempts), capture.failure, capture.disconnected)
