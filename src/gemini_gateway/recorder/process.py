"""The process sink: the gateway's end of the writer process (RECORDING_WRITER=process; "auto"
on a multi-CPU host).

    RecordQueue ──sender task, every FLUSH_SECONDS──► one frame of journal entries ──► worker stdin
                                                       │ kept until the worker says "settled"
    worker dies ──► its unsettled frames are spooled here ──► restarted worker replays them

Building a record (masking, JSON parsing, extraction, compression) and inserting it cost the
event loop about a hundred microseconds a request, a quarter of what the whole call costs; a
hand-over costs a few. What a frame carries is the exchange as the crash journal wrote it (the
same pickled bytes: an exchange is serialised once), with the tokens its caller presented beside
it. The worker runs the same `InlineSink` as the inline writer. Record ids are given here, so a
record that reaches the store twice (written by a dying worker, then spooled here) is still
stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.inline import build_all
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.recorder.sink import Settled
from gemini_gateway.recorder.spool import Spool, spool_stats
from gemini_gateway.recorder.wire import Entry, capture_of, entry_of, frame, read_frame, unframe
from gemini_gateway.redaction import REDACTOR
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore

log = logging.getLogger("gemini_gateway.recorder")

FLUSH_SECONDS = 0.02  # how long captures gather before one frame carries them all
RESTART_SECONDS = (0.5, 30.0)  # backoff between restarts of a worker that keeps dying
# How long start-up waits for the worker's first word: a client that calls as soon as the gateway
# answers and then reads its records should find them written as promptly as with the inline writer.
READY_SECONDS = 15.0
SETTINGS_FIELDS = frozenset(
    {
        "data_dir",
        "database_url",
        "log_level",
        "retention_days",
        "retention_max_mb",
        "retention_interval_seconds",
    }
)
COUNTERS = ("written", "spooled", "replayed", "rejected", "overflowed", "reduced", "lost", "purged")
PROBLEMS = ("last_reduced", "last_lost")  # why the last record was reduced or lost, as the worker says


class ProcessSink:
    writer = "process"
    takes_sealed = True  # frames carry the journal entries' own bytes

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.activity: Activity | None = None  # the loop only hands over: nothing to fit between requests
        # Told of records once the worker settled or this side spooled them, by journal segment.
        self.settled: Settled | None = None
        self.queue_size = settings.recording_queue_size
        self.batch_size = settings.recording_batch_size
        self.spool_dir = settings.data_dir / "spool"
        self.counters = dict.fromkeys(COUNTERS, 0)  # this side's own, and dead workers'
        self._worker_counters: dict[str, int] = {}
        self._worker_health: tuple[bool, str | None] = (False, None)
        self._problems: dict[str, str | None] = dict.fromkeys(PROBLEMS)
        self._database: Database | None = None
        self._own_database: Database | None = None
        self._store: ExchangeStore | None = None
        self.queue = RecordQueue(settings.recording_queue_size)  # the recorder's, once started
        self._sender: asyncio.Task[None] | None = None
        # Sent frames kept as their bytes (number, record count, frame, journal segments): bytes are
        # not tracked by the garbage collector, where a few thousand live tuples and lists would make
        # every collection walk them again.
        self._unsettled: deque[tuple[int, int, bytes, Counter[int]]] = deque()
        self._unsettled_count = 0
        self._sequence = 0
        self._secrets_sent = -1  # REDACTOR.generation the worker last heard of
        self._flush_handle: asyncio.TimerHandle | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stdin: asyncio.StreamWriter | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._spooler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-spool")
        self._spool_lock = threading.Lock()
        self._spool_pending: list[Entry] = []
        self._spool_journal: Counter[int] = Counter()
        self._stopping = False
        self._last_error: str | None = None
        self._ready = asyncio.Event()

    # -- request path -------------------------------------------------------------------------

    @property
    def held(self) -> int:
        return self._unsettled_count  # sent or waiting to be, until the worker says they are safe

    def overflow(self, capture: Capture) -> None:
        """The worker is down or cannot keep up: memory stays bounded, the disk takes the rest."""
        self.counters["overflowed"] += 1
        segment = capture.journal if capture.journal is not None and capture.journal >= 0 else None
        self._spool_later([entry_of(capture)], Counter({segment: 1}) if segment is not None else Counter())

    # -- sender -------------------------------------------------------------------------------

    async def _send_batches(self) -> None:
        """Whatever the queue holds, a frame every FLUSH_SECONDS (at once when a batch is full)."""
        queue = self.queue
        while await queue.wait():
            if len(queue) < self.batch_size and not queue.closed:
                await asyncio.sleep(FLUSH_SECONDS)
            try:
                self._flush()
            except Exception:  # a fault nobody foresaw: the next frame goes all the same
                log.exception("sending records to the recorder worker failed")

    def _flush(self) -> None:
        captures = self.queue.take()
        if not captures:
            return
        if REDACTOR.generation != self._secrets_sent:  # a key or token added since: mask it there too
            self._secrets_sent = REDACTOR.generation
            self._send(("secrets", REDACTOR.known()))
        entries: list[Entry] = []
        segments: Counter[int] = Counter()
        for capture in captures:
            try:
                entries.append(entry_of(capture))
            except Exception as exc:  # this exchange alone: its journal entry, if any, stays for a restart
                self._problem("lost", capture, f"{type(exc).__name__}: {exc}")
                continue
            if capture.journal is not None and capture.journal >= 0:
                segments[capture.journal] += 1
        if not entries:
            return
        self._sequence += 1
        data = frame(("records", self._sequence, entries))
        self._unsettled.append((self._sequence, len(entries), data, segments))
        self._unsettled_count += len(entries)
        self._write(data)

    def _send(self, message: Any) -> None:
        self._write(frame(message))

    def _write(self, data: bytes) -> None:
        if self._stdin is None or self._stdin.is_closing():
            return  # a restarted worker is sent every unsettled frame when it comes up
        try:
            self._stdin.write(data)
        except (ConnectionError, RuntimeError) as exc:  # the worker just died; the supervisor sees it
            log.debug("recorder worker pipe closed: %s", exc)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, database: Database | None, queue: RecordQueue) -> None:
        """Start the worker and send it what `queue` holds; reads go through `database` (the
        gateway's) while it lives."""
        self._database = database
        self.queue = queue
        self._sender = asyncio.create_task(self._send_batches(), name="recorder-sender")
        self._supervisor = asyncio.create_task(self._supervise(), name="recorder-process")
        try:
            await asyncio.wait_for(self._ready.wait(), READY_SECONDS)
        except TimeoutError:  # slow or failing: serve anyway, records wait in memory or the spool
            log.warning("recorder worker not ready after %.0f s; serving meanwhile", READY_SECONDS)

    async def aclose(self) -> None:
        self._stopping = True
        self.queue.close()
        if self._sender is not None:
            with contextlib.suppress(Exception):  # it ends at once, closed, after sending what was left
                await self._sender
            self._flush()  # had it failed, what it left
        if self._stdin is not None and not self._stdin.is_closing():
            self._send(("stop",))
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._stdin.close()
        if self._supervisor is not None and self._process is None:
            # Between workers (waiting to restart a dead one): there is none to flush.
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        elif self._supervisor is not None:
            # The worker flushes its queue to the store, or within its write timeout to the spool.
            deadline = self.settings.recording_write_timeout * 2 + 10
            try:
                await asyncio.wait_for(asyncio.shield(self._supervisor), deadline)
            except TimeoutError:
                log.error("recorder worker did not finish in %.0f s; spooling what it had", deadline)
                self._supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._supervisor
                if self._process is not None and self._process.returncode is None:
                    self._process.kill()
                    await self._process.wait()
        self._spool_unsettled()
        await asyncio.to_thread(self._spooler.shutdown, True)
        if self._own_database is not None:
            await self._own_database.aclose()

    async def _supervise(self) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                returncode = await self._run_worker()
            except Exception as exc:  # could not start it, or it said something unreadable
                returncode, self._last_error = -1, f"recorder worker failed: {type(exc).__name__}: {exc}"
                log.error("%s", self._last_error)
                if self._process is not None and self._process.returncode is None:
                    self._process.kill()
                    await self._process.wait()
            self._stdin = None
            self._process = None
            self._ready.set()  # a worker that died at once must not hold start-up either
            self._retire_worker_counters()
            if self._stopping:
                return
            # Its queue died with it: what it had not settled goes to the spool from here, and the
            # next worker replays it. Resending instead could feed it the record that killed it.
            self._spool_unsettled()
            failures = failures + 1 if time.monotonic() - started < 60 else 1
            delay = min(RESTART_SECONDS[1], RESTART_SECONDS[0] * 2 ** (failures - 1))
            self._last_error = f"recorder worker exited with code {returncode}; restarting in {delay:g} s"
            log.error("%s", self._last_error)
            await asyncio.sleep(delay)

    async def _run_worker(self) -> int:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gemini_gateway.recorder.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # Out of the terminal's process group: Ctrl+C stops the gateway, which then stops this.
            start_new_session=True,
        )
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        self._stdin = process.stdin
        fields = self.settings.model_dump(
            include=set(SETTINGS_FIELDS) | {f for f in Settings.model_fields if f.startswith("recording_")}
        )
        fields["replica_id"] = self.settings.resolved_replica_id  # the gateway's pid, not the writer's
        # Frames are numbered on from the last this side saw settled; the worker acknowledges from there.
        baseline = self._unsettled[0][0] - 1 if self._unsettled else self._sequence
        migrated = self._database is not None and self._own_database is None  # the gateway's own, open
        self._secrets_sent = REDACTOR.generation
        self._send(("init", fields, REDACTOR.known(), baseline, migrated))
        for _, _, data, _ in self._unsettled:  # none after a crash (spooled), some at start-up
            self._write(data)
        if self._stopping:
            self._send(("stop",))
            process.stdin.close()
        while (message := await read_frame(process.stdout)) is not None:
            if message[0] == "settled":
                self._settled(message[1], message[2])
        return await process.wait()

    def _settled(self, upto: int, status: dict[str, Any]) -> None:
        settled: Counter[int] = Counter()
        while self._unsettled and self._unsettled[0][0] <= upto:
            _, count, _, segments = self._unsettled.popleft()
            self._unsettled_count -= count
            settled.update(segments)
        if settled and self.settled is not None:
            self.settled(settled)
        self._worker_counters = {k: int(status.get(k, 0)) for k in COUNTERS}
        self._worker_health = (bool(status.get("healthy")), status.get("last_error"))
        self._problems.update({k: status[k] for k in PROBLEMS if status.get(k)})
        self._last_error = None
        self._ready.set()

    def _retire_worker_counters(self) -> None:
        for name, value in self._worker_counters.items():
            self.counters[name] += value
        self._worker_counters = {}
        self._worker_health = (False, None)

    def _spool_unsettled(self) -> None:
        entries = [entry for _, _, data, _ in self._unsettled for entry in unframe(data)[2]]
        segments = sum((unsettled[3] for unsettled in self._unsettled), Counter[int]())
        self._unsettled.clear()
        self._unsettled_count = 0
        if entries:
            self._spool_later(entries, segments)

    def _spool_later(self, entries: list[Entry], segments: Counter[int]) -> None:
        with self._spool_lock:
            self._spool_pending += entries
            self._spool_journal.update(segments)
            if len(self._spool_pending) > len(entries):
                return  # a job is queued already and takes these too: one file, not one per record
        try:
            self._spooler.submit(self._spool_now)
        except RuntimeError:  # already shut down: the process is exiting (the journal keeps them)
            with self._spool_lock:
                self.counters["lost"] += len(self._spool_pending)
                self._spool_pending = []
                self._spool_journal = Counter()

    def _spool_now(self) -> None:
        """Spooler thread: build the records here and write them as one closed spool file."""
        with self._spool_lock:
            entries, self._spool_pending = self._spool_pending, []
            segments, self._spool_journal = self._spool_journal, Counter()
        try:
            spooled = Spool.write_file(
                self.spool_dir, build_all([capture_of(entry) for entry in entries], self._problem)
            )
        except Exception as exc:  # a full disk, or a fault nobody foresaw: said, never silent
            spooled = 0
            log.error("could not spool %d records: %s: %s", len(entries), type(exc).__name__, exc)
            segments = Counter()  # the journal keeps them: the next start tries again
        self.counters["spooled"] += spooled
        if spooled < len(entries):
            self.counters["lost"] += len(entries) - spooled
            self._problems["last_lost"] = (
                f"{len(entries) - spooled} record(s) could not be spooled (see the log)"
            )
        if segments and self.settled is not None:
            self.settled(segments)

    def _problem(self, kind: str, capture: Capture, reason: str) -> None:
        self.counters[kind] += 1
        path = f"{capture.scope.get('method', '')} {capture.scope.get('path', '')}"
        self._problems[f"last_{kind}"] = f"{path}: {reason}"[:500]

    # -- reading ------------------------------------------------------------------------------

    @property
    def store(self) -> ExchangeStore:
        """A store for reading records (the worker does all the writing)."""
        if self._store is None:
            if self._database is None:  # the store was down at start-up: reads get their own engine
                self._own_database = self._database = Database(self.settings.resolved_database_url)
            self._store = ExchangeStore(self._database)
        return self._store

    def status(self) -> dict[str, Any]:
        counters = {name: self.counters[name] + self._worker_counters.get(name, 0) for name in COUNTERS}
        healthy, error = self._worker_health
        return {
            "writer": self.writer,
            "worker_pid": self._process.pid if self._process is not None else None,
            "healthy": healthy and self._process is not None,
            "last_error": self._last_error or error,
            "spool": spool_stats(self.spool_dir),
            **self._problems,
            **counters,
        }
