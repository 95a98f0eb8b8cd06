"""What the request path needs of a recorder: which requests to record, and where to hand them.

Two recorders fit it: `Recorder` writes from the gateway's own event loop, `RecorderProcess`
hands captures to a separate writer process (RECORDING_WRITER=inline or process; see startup.py).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from typing import Any

from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.capture import Capture, Mode
from gemini_gateway.recorder.journal import Journal, encode_entry
from gemini_gateway.recorder.rows import new_id
from gemini_gateway.recorder.wire import masked_for_disk, to_wire
from gemini_gateway.settings import Settings

# Operator and UI surfaces are not model exchanges; recording them would only add noise.
UNRECORDED_PREFIXES = ("/health", "/api/", "/admin", "/static", "/docs", "/openapi.json", "/favicon.ico")
_MODE_CACHE_SIZE = 4096


class RecorderBase(ABC):
    # Requests in flight, counted by the middleware when the recorder writes on their event loop.
    activity: Activity | None = None
    # Where exchanges go as their responses complete, so that a crash loses none (journal.py).
    journal: Journal | None = None

    def __init__(self, settings: Settings) -> None:
        self.configure(settings)

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

    def seal(self, capture: Capture) -> None:
        """Journal an exchange, once: as its last response byte is about to leave, or when it is
        handed over without one (an error, a client gone). Never raises into the request."""
        journal = self.journal
        if journal is None or capture.journal is not None:
            return
        capture.finished = time.perf_counter()  # the middleware sets it again when the app returns
        if capture.record_id is None:
            capture.record_id = new_id()  # the same id in the journal and the store: stored once
        try:
            entry = encode_entry(masked_for_disk(to_wire(capture, capture.record_id)))
        except Exception as exc:  # e.g. a header value pickle cannot take: it is recorded as usual
            journal.errors += 1
            journal.last_error = f"{type(exc).__name__}: {exc}"[:300]
            capture.journal = -1
            return
        capture.journal = journal.append(entry)

    def settle_journal(self, captures: Iterable[Capture]) -> None:
        """These records are stored or spooled: the journal need not keep them."""
        if self.journal is not None:
            self.journal.settle(
                Counter(c.journal for c in captures if c.journal is not None and c.journal >= 0)
            )

    @abstractmethod
    def submit(self, capture: Capture) -> None:
        """Hand over one finished exchange. Never blocks, never raises into the request."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Health, queue depth, spool size and counters, for /api/recorder and the admin UI."""

    @abstractmethod
    async def aclose(self) -> None:
        """Flush what is queued (to the store, or the spool if it cannot take it) and stop."""
