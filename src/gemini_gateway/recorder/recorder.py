"""The recorder: what the request path sees of recording, whichever sink writes the records.

    middleware ──mode_for()──► record or not
               ──seal()──────► journal (as the last response byte leaves; see journal.py)
               ──submit()────► the queue (queue.py) ──► the sink (sink.py), which stores or
                                                        spools, then settles

It holds what is the same for every sink: which requests are recorded, the crash journal (an
exchange is journaled once, with the id it is stored under, and let go of once the sink says it
is stored or spooled), the one queue finished exchanges wait in, the count of submissions, and
the status the admin API shows.
"""

from __future__ import annotations

import pickle
import time
from collections import Counter
from typing import Any

from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.capture import Capture, Mode, sealed_state
from gemini_gateway.recorder.journal import Journal
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.recorder.rows import new_id
from gemini_gateway.recorder.sink import Sink
from gemini_gateway.recorder.wire import masked_for_disk, to_wire
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore

# Operator and UI surfaces are not model exchanges; recording them would only add noise.
UNRECORDED_PREFIXES = (
    "/health",
    "/api/",
    "/internal/",
    "/admin",
    "/static",
    "/docs",
    "/openapi.json",
    "/favicon.ico",
)
_MODE_CACHE_SIZE = 4096


class Recorder:
    def __init__(self, settings: Settings, sink: Sink, journal: Journal | None = None) -> None:
        self.configure(settings)
        self.sink = sink
        # Where exchanges go as their responses complete, so that a crash loses none (journal.py).
        self.journal = journal
        # Requests in flight, counted by the middleware when the sink writes on their event loop.
        self.activity: Activity | None = sink.activity
        self.submitted = 0
        self.queue = RecordQueue(settings.recording_queue_size)
        if journal is not None:
            sink.settled = self.settle

    def configure(self, settings: Settings) -> None:
        """Take the recording settings anew (they are editable at run time)."""
        self.default_mode = settings.recording_mode
        # Longest prefix first, so the most specific override wins.
        self.route_modes = sorted(settings.recording_route_modes.items(), key=lambda kv: -len(kv[0]))
        self.max_body_bytes = settings.recording_max_body_bytes
        self._modes: dict[str, Mode | None] = {}

    def mode_for(self, path: str) -> Mode | None:
        """The recording mode for a request path, or None when it is not recorded."""
        try:
            return self._modes[path]
        except KeyError:
            pass
        mode: Mode | None = None
        if path != "/" and not path.startswith(UNRECORDED_PREFIXES):  # "/" only redirects to /admin/
            chosen = next((m for prefix, m in self.route_modes if path.startswith(prefix)), self.default_mode)
            mode = None if chosen == "off" else chosen
        if len(self._modes) < _MODE_CACHE_SIZE:
            self._modes[path] = mode
        return mode

    # -- request path -------------------------------------------------------------------------

    def seal(self, capture: Capture) -> None:
        """Journal an exchange, once: as its last response byte is about to leave, or when it is
        handed over without one (an error, a client gone). Never raises into the request.

        The entry's bytes are kept on the capture: the writer process is sent the same ones, so an
        exchange is serialised once. What could still change after this (the app ending in an
        error, a client gone during the last write) is noted beside them (`sealed_as`)."""
        journal = self.journal
        if journal is None or capture.journal is not None:
            return
        capture.finished = time.perf_counter()
        if capture.record_id is None:
            capture.record_id = new_id()  # the same id in the journal and the store: stored once
        try:
            wire, capture.presented = masked_for_disk(to_wire(capture, capture.record_id))
            payload = pickle.dumps(wire, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # e.g. a header value pickle cannot take: it is recorded as usual
            journal.errors += 1
            journal.last_error = f"{type(exc).__name__}: {exc}"[:300]
            capture.journal = -1
            return
        capture.journal = journal.append(payload)
        if self.sink.takes_sealed:
            capture.sealed, capture.sealed_as = payload, sealed_state(capture)

    def submit(self, capture: Capture) -> None:
        """Hand over one finished exchange. Never blocks, never raises into the request."""
        self.submitted += 1
        self.seal(capture)  # journaled already, unless it ended without a last response byte
        if not self.queue.put(capture, self.sink.held):
            self.sink.overflow(capture)  # the sink spools it, off the loop

    def settle(self, tickets: Counter[int]) -> None:
        """The sink stored or spooled these records (counted by journal segment): the journal
        need not keep them. From the loop or a sink's spool thread."""
        if self.journal is not None and tickets:
            self.journal.settle(tickets)

    # -- lifecycle and status -----------------------------------------------------------------

    async def start(self, database: Database | None) -> None:
        await self.sink.start(database, self.queue)

    @property
    def store(self) -> ExchangeStore | None:
        """A store to read records from (the admin API's, when the recorder has one open)."""
        return self.sink.store

    def status(self) -> dict[str, Any]:
        """Health, queue depth, spool size and counters, for /api/recorder and the admin UI."""
        return {
            "mode": self.default_mode,
            "route_modes": dict(self.route_modes),
            "journal": self.journal.stats() if self.journal is not None else None,
            **self.sink.status(),
            "queued": len(self.queue) + self.sink.held,
            "submitted": self.submitted,
        }

    async def aclose(self) -> None:
        """Flush what is queued (to the store, or the spool if it cannot take it) and stop."""
        self.queue.close()  # what comes after goes to the sink's overflow: spooled
        await self.sink.aclose()
        if self.journal is not None:
            self.journal.close()
