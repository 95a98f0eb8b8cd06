"""The inline sink: one writer task that takes the recorder's queue in batches, and a disk spool.

    Recorder.submit() ──put()──► RecordQueue (bounded) ──► writer task ──► store (batched)
                     │ full: overflow()                                 │ down, slow, locked
                     └──► overflow thread ──► spool ◄──────────────────┘
                                                └── replayed when a probe finds the store back

Rows are built (JSON parsing, extraction, compression, masking) between requests or in slices,
so neither the request path nor the requests waiting on the loop pay for them. Only the writer
task inserts and replays, which keeps the "exactly once" reasoning to one place: every record has
a unique key, inserts skip keys already stored, and a spool file is deleted only after its
records are committed.

It runs on the gateway's loop (RECORDING_WRITER=inline, writing between requests; see
activity.py) and, fed from a pipe, in the writer process (worker.py) behind `ProcessSink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gemini_gateway.recorder import rows as record_rows
from gemini_gateway.recorder.activity import Activity
from gemini_gateway.recorder.capture import Capture
from gemini_gateway.recorder.queue import RecordQueue
from gemini_gateway.recorder.rows import build_rows, reduced_rows
from gemini_gateway.recorder.sink import Settled
from gemini_gateway.recorder.spool import JSON_COLUMNS_CLEARED, Spool, spool_stats
from gemini_gateway.settings import Settings
from gemini_gateway.store.database import Database
from gemini_gateway.store.exchanges import ExchangeStore, RecordRows
from gemini_gateway.store.retention import apply_retention

log = logging.getLogger("gemini_gateway.recorder")

# Told of a record reduced or lost through its own content: ("reduced" | "lost", capture, reason).
Report = Callable[[str, Capture, str], None]
INLINE_BUILD_BYTES = 1024 * 1024
BACKLOG_FACTOR = 5
CHECKPOINT_SECONDS = 5.0
# Building records runs on the event loop in slices, so that a request arriving meanwhile waits at
# most about one slice (a whole batch of stream records takes 20 ms and more). A slice starts this
# long; see `next_slice` for how it grows under a backlog, up to MAX_BUILD_SLICE_SECONDS.
BUILD_SLICE_SECONDS = 0.0005
MAX_BUILD_SLICE_SECONDS = 0.008
# Between requests (see activity.py), the writer works in units this long: a request that
# arrives meanwhile waits for at most one. What the writer takes from the queue at once waits at
# most QUIET_WAIT_SECONDS in all for quiet: a gateway never idle for that long is busy, and the rest
# of the take is written as under load (a wait per batch instead kept the writer below 1,000
# records a second while the gateway served 4,000, until the queue overflowed).
UNIT_SECONDS = 0.0001
# Between requests the units of a take go into one transaction; it is committed before the writer
# waits for quiet once it has been open this long.
HOLD_SECONDS = 0.02
QUIET_WAIT_SECONDS = 0.05


class InlineSink:
    writer = "inline"
    takes_sealed = False  # it builds from the capture itself

    def __init__(self, settings: Settings, *, spool_dir: Path | None = None) -> None:
        self.settings = settings
        # Records name the gateway process that served them; in the writer process these settings
        # are the gateway's (see process.py), so the writer's own pid is not the one recorded.
        record_rows.REPLICA[0] = settings.resolved_replica_id[:128]
        # Requests in flight, counted by the middleware when this sink writes on their event loop.
        self.activity: Activity | None = None
        # Told of records once committed, spooled or given up on, counted by ticket (see sink.py).
        self.settled: Settled | None = None
        self.batch_size = settings.recording_batch_size
        self.batch_seconds = settings.recording_batch_ms / 1000
        self.write_timeout = settings.recording_write_timeout
        self.retry_seconds = settings.recording_retry_seconds
        self.spool = Spool(spool_dir or settings.data_dir / "spool")
        self.queue = RecordQueue(settings.recording_queue_size)  # the recorder's, once started
        self.counters = dict.fromkeys(
            (
                "written",
                "spooled",
                "replayed",
                "rejected",
                "overflowed",
                "reduced",
                "lost",
                "purged",
            ),
            0,
        )
        self.healthy = False
        self.last_error: str | None = None
        # Why the last record was reduced or lost (a record's own fault, not the store's).
        self.last_reduced: str | None = None
        self.last_lost: str | None = None
        self.store: ExchangeStore | None = None
        self._own_database: Database | None = None
        # Whether a store this recorder opens itself needs migrating first: not in the writer
        # process of a gateway that migrated it at start-up (Alembic costs it a second to import).
        self.migrate_own_store = True
        self._overflow = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder-spool")
        self._overflow_lock = threading.Lock()
        self._overflow_pending: list[Capture] = []
        self._writer: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_probe = 0.0
        self._next_checkpoint = 0.0
        # Until when the take being written waits for quiet (loop time); 0 once it found none.
        self._quiet_until = 0.0
        self._slice = BUILD_SLICE_SECONDS  # see next_slice

    # -- request path -------------------------------------------------------------------------

    @property
    def held(self) -> int:
        return 0  # a batch being written is not counted: it is at most a few times the batch size

    def overflow(self, capture: Capture) -> None:
        """An exchange the queue had no room for: built and spooled in a thread. Never blocks."""
        self.counters["overflowed"] += 1
        with self._overflow_lock:
            self._overflow_pending.append(capture)
            if len(self._overflow_pending) > 1:
                return  # a drain job is already scheduled and will take this one too
        try:
            self._overflow.submit(self._drain_overflow)
        except RuntimeError:  # executor already shut down: the process is exiting
            self.counters["lost"] += 1

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, database: Database | None, queue: RecordQueue) -> None:
        """Start writing what `queue` holds through `database` (the gateway's), or through an own
        one once reachable."""
        self.queue = queue
        if database is not None:
            self.store = ExchangeStore(database, direct_writes=True)
        self._writer = asyncio.create_task(self._run(), name="recorder-writer")
        if self.settings.retention_days > 0 or self.settings.retention_max_mb > 0:
            self._retention = asyncio.create_task(self._retain(), name="recorder-retention")

    async def aclose(self) -> None:
        """Flush the queue (to the store, or the spool if it cannot take it) and stop."""
        self._stopping = True
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        self.queue.close()  # the writer takes what is left, then ends
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), self.write_timeout * 2 + 5)
            except TimeoutError:
                self._writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._writer
        leftover = self.queue.take()
        if leftover:
            await asyncio.to_thread(self._spool_captures, leftover)
        await asyncio.to_thread(self._overflow.shutdown, True)
        self.spool.close()
        if self.store is not None:
            self.store.close()
        if self._own_database is not None:
            await self._own_database.aclose()

    # -- writer task ----------------------------------------------------------------------------

    async def _run(self) -> None:
        await self._recover()
        while True:
            batch, stop = await self._next_batch()
            self._quiet_until = asyncio.get_running_loop().time() + QUIET_WAIT_SECONDS
            # A usual batch goes in one transaction (smaller ones rewrite the same index pages:
            # 25-record transactions cost twice the CPU per record); a backlog, in batch-size ones.
            for start in range(0, len(batch), self.batch_size):
                captures = batch[start : start + self.batch_size]
                try:
                    await self._write(captures)
                except Exception:  # a fault nobody foresaw: retry record by record, never stop writing
                    log.exception(
                        "writing a batch of %d records failed; writing them one by one", len(captures)
                    )
                    await self._write_alone(captures)
            if stop and not self.queue.items:
                return
            if time.monotonic() >= self._next_probe and (not self.healthy or self.spool.pending()):
                try:
                    await self._recover()
                except Exception:  # e.g. an unreadable spool file; the next probe tries again
                    log.exception("replaying the spool failed")

    async def _next_batch(self) -> tuple[list[Capture], bool]:
        """What the queue holds, once something does (or the probe interval passes), and whether
        the queue is closed: the writer ends once it has written what is left."""
        queue = self.queue
        if not await queue.wait(self.retry_seconds):
            return [], queue.closed
        if len(queue) < self.batch_size and self.batch_seconds > 0 and not queue.closed:
            await asyncio.sleep(self.batch_seconds)  # gather more: one transaction per batch, not per record
        # A backlog means the loop is busy and every round trip to the store is slow: take bigger
        # batches (up to BACKLOG_FACTOR times the setting) so the writer keeps up with the load.
        limit = self.batch_size * (BACKLOG_FACTOR if len(queue) >= self.batch_size else 1)
        batch = queue.take(limit)
        self._slice = next_slice(self._slice, len(queue), self.batch_size)
        return batch, queue.closed

    async def _write(self, captures: list[Capture]) -> None:
        if (
            self.activity is not None
            and not self._stopping
            and self._quiet_until
            and len(self.queue) < self.batch_size  # no backlog behind this take
        ):
            await self._write_between_requests(self.activity, captures)
        else:
            await self._insert_or_spool(await self._build(captures))
        self._settle(captures)  # not on cancellation: those records are not safe yet

    async def _write_alone(self, captures: list[Capture]) -> None:
        """Each record on its own: whatever fails is that record's loss alone, counted and said."""
        for capture in captures:
            try:
                await self._insert_or_spool(self.build_all([capture]))
            except Exception as exc:
                self.count_problem("lost", capture, f"{type(exc).__name__}: {exc}")
        self._settle(captures)

    def build_all(self, captures: list[Capture]) -> list[RecordRows]:
        return build_all(captures, self.count_problem)

    def count_problem(self, kind: str, capture: Capture, reason: str) -> None:
        """A record reduced or lost through its own content (see `build_all`); any thread."""
        self.counters[kind] += 1
        text = f"{capture.scope.get('method', '')} {capture.scope.get('path', '')}: {reason}"[:500]
        if kind == "lost":
            self.last_lost = text
        else:
            self.last_reduced = text

    async def _write_between_requests(self, activity: Activity, captures: list[Capture]) -> None:
        """Build and insert while no request is in flight, one unit of work at a time.

        What finds no quiet moment before the take's deadline (a gateway never idle) is written
        as under load: built in slices, inserted in one transaction from the thread; so is the
        rest of the take, without waiting again.
        """
        rows: list[RecordRows] = []
        built = 0
        while built < len(captures) and await self._quiet(activity):
            until = time.perf_counter() + UNIT_SECONDS
            while built < len(captures):
                rows += self.build_all([captures[built]])
                built += 1
                if time.perf_counter() >= until:
                    break
        if built < len(captures):
            rows += await _build_in_slices(captures[built:], self._slice, self.count_problem)
        written = await self._insert_between_requests(activity, rows)
        if written:
            await self._maybe_checkpoint()
        await self._insert_or_spool(rows[written:])

    async def _insert_between_requests(self, activity: Activity, rows: list[RecordRows]) -> int:
        """Insert from the front of `rows` a unit at a time while no request is in flight, into one
        transaction, committed at the end, once a request keeps the gateway busy, or before a wait
        for quiet once it has been open HOLD_SECONDS (so that another writer of the same SQLite
        file, a second worker's, is not kept waiting across requests). Says how many were
        committed: after a failure the open transaction's are not, and the caller writes or spools
        them with the rest."""
        store = self.store
        loop = asyncio.get_running_loop()
        committed = pending = 0
        opened = 0.0
        while committed + pending < len(rows) and self.healthy and store is not None and store.inserts_here:
            if pending and activity.in_flight and loop.time() - opened >= HOLD_SECONDS:
                if not await self._commit(store, pending):
                    return committed
                committed, pending = committed + pending, 0
            if not await self._quiet(activity):
                break
            if not pending:
                opened = loop.time()
            try:
                pending += store.insert_here(rows[committed + pending :], UNIT_SECONDS)
            except Exception as exc:  # rolled back: the same failures as a batch's
                self._insert_failed(exc)
                return committed
        if pending and store is not None and await self._commit(store, pending):
            committed += pending
        return committed

    async def _commit(self, store: ExchangeStore, count: int) -> bool:
        try:
            async with asyncio.timeout(self.write_timeout):
                await store.commit()
        except Exception as exc:  # rolled back
            self._insert_failed(exc)
            return False
        self.counters["written"] += count
        return True

    async def _quiet(self, activity: Activity) -> bool:
        """Whether a quiet moment came before the take's deadline; once one did not, none is
        waited for until the next take."""
        if self._quiet_until and await activity.quiet(self._quiet_until):
            return True
        self._quiet_until = 0.0
        return False

    async def _build(self, captures: list[Capture]) -> list[RecordRows]:
        if sum(c.request_size + c.response_size for c in captures) < INLINE_BUILD_BYTES:
            # Small records are built here: a worker thread would wait for the busy loop's GIL at
            # every zlib call and fall far behind.
            return await _build_in_slices(captures, self._slice, self.count_problem)
        return await asyncio.to_thread(self.build_all, captures)

    def _settle(self, captures: Sequence[Capture]) -> None:
        if self.settled is not None and captures:
            self.settled(Counter(c.journal for c in captures if c.journal is not None and c.journal >= 0))

    async def _insert_or_spool(self, rows: list[RecordRows]) -> None:
        if not rows:
            return
        if self.healthy and self.store is not None:
            try:
                async with asyncio.timeout(self.write_timeout):
                    await self.store.insert(rows)
                self.counters["written"] += len(rows)
                await self._maybe_checkpoint()
                return
            except Exception as exc:  # any driver error or the timeout: the store cannot take it now
                if _store_fault(exc):
                    self._insert_failed(exc)
                elif await self._written_one_by_one(rows, exc):
                    return
        await self._to_spool(rows)

    async def _written_one_by_one(self, rows: list[RecordRows], exc: Exception) -> bool:
        """After an insert error that may be one record's fault: the store answers, so each record
        goes in alone (reduced, or parked, if refused). False if the store does not answer."""
        if self.store is None:
            return False
        rejected = self.counters["rejected"]
        if not await self._insert_one_by_one(self.store, rows, exc):
            return False
        self.counters["written"] += len(rows) - (self.counters["rejected"] - rejected)
        return True

    def _insert_failed(self, exc: Exception) -> None:
        if _locked(exc):
            # Another writer holds SQLite for a moment. The records wait in the spool and the next
            # probe replays them; the store is not "down" for that.
            self._next_probe = time.monotonic() + self.retry_seconds
        else:
            self._went_down(exc)

    async def _maybe_checkpoint(self) -> None:
        now = time.monotonic()
        if self.store is not None and now >= self._next_checkpoint:
            self._next_checkpoint = now + CHECKPOINT_SECONDS
            try:
                await self.store.checkpoint()
            except Exception as exc:  # a busy reader can hold it off; the next one catches up
                log.debug("WAL checkpoint skipped: %s", exc)

    async def _to_spool(self, rows: Sequence[RecordRows]) -> None:
        await asyncio.to_thread(self._spool_rows, rows)

    def _spool_rows(self, rows: Sequence[RecordRows]) -> None:
        try:
            spooled = self.spool.append(rows)
        except OSError as exc:
            self._lose(len(rows), f"could not spool: {exc}")
            return
        self.counters["spooled"] += spooled
        if spooled < len(rows):
            self._lose(len(rows) - spooled, "could not be encoded for the spool (see the log)")

    def _lose(self, count: int, reason: str) -> None:
        self.counters["lost"] += count
        self.last_lost = f"{count} record(s): {reason}"[:500]
        log.error("%d record(s) lost: %s", count, reason)

    def _drain_overflow(self) -> None:
        """Overflow thread: spool everything that overflowed since the last drain, in one append."""
        with self._overflow_lock:
            captures, self._overflow_pending = self._overflow_pending, []
        self._spool_captures(captures)

    def _spool_captures(self, captures: list[Capture]) -> None:
        """Overflow thread: build and spool records the queue had no room for."""
        try:
            self._spool_rows(self.build_all(captures))
        except Exception as exc:  # never out of this thread unsaid
            self._lose(len(captures), f"{type(exc).__name__}: {exc}")
        self._settle(captures)

    def _went_down(self, exc: BaseException) -> None:
        self.healthy = False
        self._next_probe = time.monotonic() + self.retry_seconds
        self.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
        log.warning("store not taking records (%s); spooling to %s", self.last_error, self.spool.directory)

    async def _ensure_store(self) -> ExchangeStore:
        if self.store is None:
            database = Database(self.settings.resolved_database_url)
            try:
                if self.migrate_own_store:
                    await database.migrate()
            except BaseException:
                await database.aclose()
                raise
            self._own_database = database
            self.store = ExchangeStore(database, direct_writes=True)
        return self.store

    async def _recover(self) -> None:
        """Probe the store; if it answers, replay the spool and resume direct writes."""
        self._next_probe = time.monotonic() + self.retry_seconds
        try:
            async with asyncio.timeout(self.write_timeout):
                store = await self._ensure_store()
                await store.database.ping()
        except Exception as exc:  # still down
            self._went_down(exc)
            return
        for path in await asyncio.to_thread(self.spool.take):
            if not await self._replay(store, path):
                return
        if self.last_error is not None:  # it was down (not merely not probed yet, as at start-up)
            log.info("store is back; recording directly again")
        self.healthy = True
        self.last_error = None

    async def _replay(self, store: ExchangeStore, path: Path) -> bool:
        batches = await asyncio.to_thread(lambda: list(Spool.read(path, self.batch_size)))
        for batch in batches:
            try:
                async with asyncio.timeout(self.write_timeout):
                    await store.insert(batch)
            except Exception as exc:  # down again, or a record this store refuses
                if not await self._insert_one_by_one(store, batch, exc):
                    return False
            self.counters["replayed"] += len(batch)
        await asyncio.to_thread(path.unlink)  # after commit: a crash before this replays harmlessly
        return True

    async def _insert_one_by_one(self, store: ExchangeStore, batch: list[RecordRows], exc: Exception) -> bool:
        """Tell "store down" from "record refused": refused records are parked, the rest go in.

        SQLite locked by another writer is no record's fault, though it answers a ping: the records
        stay where they are (queue or spool) for the next probe. Ids already stored are skipped on
        insert, so the ones that went in meanwhile are not doubled.
        """
        if _locked(exc):
            self._insert_failed(exc)
            return False
        try:
            async with asyncio.timeout(self.write_timeout):
                await store.database.ping()
        except Exception:
            self._went_down(exc)
            return False
        for record in batch:
            # Then without what was parsed from the bodies, then without the bodies too.
            reduced = RecordRows({**record.exchange, **JSON_COLUMNS_CLEARED}, record.bodies)
            for attempt in (record, reduced, RecordRows(reduced.exchange, [])):
                try:
                    async with asyncio.timeout(self.write_timeout):
                        await store.insert([attempt])
                    break
                except Exception as error:  # refused; try the next form or park it
                    if _locked(error):  # locked since: all of it waits for the next probe
                        self._insert_failed(error)
                        return False
                    reason = f"{type(error).__name__}: {error}"
            else:
                self.counters["rejected"] += 1
                await asyncio.to_thread(self.spool.reject, [record], reason)
        return True

    async def _retain(self) -> None:
        while True:
            if self.healthy and self.store is not None:
                try:
                    self.counters["purged"] += await apply_retention(
                        self.store, days=self.settings.retention_days, max_mb=self.settings.retention_max_mb
                    )
                except Exception as exc:  # the store may be down: next round
                    log.warning("retention pass failed: %s", type(exc).__name__)
            await asyncio.sleep(self.settings.retention_interval_seconds)

    def status(self) -> dict[str, Any]:
        return {
            "writer": self.writer,
            "healthy": self.healthy,
            "last_error": self.last_error,
            "spool": spool_stats(self.spool.directory),
            "last_reduced": self.last_reduced,
            "last_lost": self.last_lost,
            **self.counters,
        }


def _locked(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _store_fault(exc: Exception) -> bool:
    """Whether an insert error is the store's (down, slow, busy), not possibly a record's."""
    return isinstance(exc, TimeoutError | OSError) or _locked(exc)


def next_slice(current: float, backlog: int, batch_size: int) -> float:
    """The build slice for the next take: doubled (up to MAX_BUILD_SLICE_SECONDS) while a backlog
    of a batch or more is left behind a take, halved back (down to BUILD_SLICE_SECONDS) once not.

    Between two slices the loop serves every request that is ready: on a saturated core a short
    slice gave the writer too small a share of it, and records queued faster than they were
    written until the queue overflowed into the spool (5,000 records in 5 s at 64 connections),
    which costs more than writing them. A longer slice under such a load delays a request by a
    few milliseconds at most, where it already waits longer in the queue of ready ones."""
    if backlog >= batch_size:
        return min(current * 2, MAX_BUILD_SLICE_SECONDS)
    return max(current / 2, BUILD_SLICE_SECONDS)


async def _build_in_slices(
    captures: list[Capture], slice_seconds: float, report: Report | None = None
) -> list[RecordRows]:
    rows: list[RecordRows] = []
    started = time.perf_counter()
    for capture in captures:  # a stream's record alone can take a few hundred µs
        rows += build_all([capture], report)
        if time.perf_counter() - started >= slice_seconds:
            await asyncio.sleep(0)  # let requests in
            started = time.perf_counter()
    return rows


def build_all(captures: list[Capture], report: Report | None = None) -> list[RecordRows]:
    """The records of `captures`, each built alone: one that cannot be built does not stop the rest.

    It is kept in a reduced form (no parsing; see `reduced_rows`) and reported as "reduced", or,
    if even that fails, reported as "lost". Either way the reason is logged.
    """
    rows: list[RecordRows] = []
    for capture in captures:
        try:
            rows.append(build_rows(capture))
            continue
        except Exception as exc:  # whatever the exchange held: this record alone pays for it
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        path = capture.scope.get("path")
        try:
            rows.append(reduced_rows(capture, reason))
        except Exception as exc:
            log.exception("could not build even a reduced record of %s (first: %s)", path, reason)
            if report is not None:
                report("lost", capture, f"{reason}; reduced: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        log.warning("record of %s stored reduced: %s", path, reason)
        if report is not None:
            report("reduced", capture, reason)
    return rows
