"""Where the recorder's queue empties: the `Sink` protocol, and its two sinks.

    middleware ──► Recorder (modes, journal, counting) ──► RecordQueue ──► Sink ──► store, or the spool
                                                                           ├─ InlineSink  (inline.py): on this loop
                                                                           └─ ProcessSink (process.py): a writer
                                                                              process, which runs an InlineSink itself

`start_recorder` picks one sink once, from RECORDING_WRITER. Each takes from the one queue
(queue.py) in batches as its way of writing needs (transactions between requests; frames on a
pipe), and never learns which sink it is not. What the queue has no room for goes to the sink's
`overflow`, which spools it off the loop.

Records are settled (stored, or spooled, which is durable) in an order only the sink knows; it
says so with `settled`, counting them by ticket: a capture's `journal` field, its journal
segment in the gateway and, in the writer process, the frame it came in. The recorder settles
the journal with it; the writer process acknowledges frames with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from gemini_gateway.recorder.activity import Activity
    from gemini_gateway.recorder.capture import Capture
    from gemini_gateway.recorder.queue import RecordQueue
    from gemini_gateway.store.database import Database
    from gemini_gateway.store.exchanges import ExchangeStore

Settled = Callable[[Counter[int]], None]


class Sink(Protocol):
    writer: str  # "inline" or "process", as /api/recorder shows it
    # Whether it wants a sealed capture's journal entry bytes (Capture.sealed), kept until it takes
    # the capture; else they go as soon as they are written (a second copy of the bodies).
    takes_sealed: bool
    # Requests in flight, when the sink writes on their loop and must find quiet moments for it.
    activity: Activity | None
    settled: Settled | None

    @property
    def held(self) -> int:
        """Records taken from the queue and still held in memory, counted against its limit."""

    def overflow(self, capture: Capture) -> None:
        """Take one finished exchange the queue had no room for (or came after it closed): spooled
        off the loop. Never blocks, never raises into the request."""

    async def start(self, database: Database | None, queue: RecordQueue) -> None:
        """Start writing what `queue` holds through `database` (the gateway's, None if it was down
        at start-up)."""

    @property
    def store(self) -> ExchangeStore | None:
        """A store to read records from, if the sink has one open."""

    def status(self) -> dict[str, Any]:
        """Health, spool size and counters, for /api/recorder and the admin UI."""

    async def aclose(self) -> None:
        """Write what is queued (to the store, or the spool if it cannot take it) and stop; the
        queue is closed by then."""
