"""The SQLite fast writer: records inserted through a `sqlite3` connection of its own.

The recorder's SQLite inserts go through this connection, a batch as one multi-row statement:
cheaper than aiosqlite, whose GIL hand-offs (one per row with executemany) cost more CPU than the
insert under load. busy_timeout=0 makes a locked database fail at once (the batch is spooled)
instead of holding the writer; the automatic WAL checkpoint is off here and run by `checkpoint()`.
It is one of the two `RecordWriter`s (see writers.py); `open_writer` picks it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_gateway.store.exchanges import RecordRows
    from gemini_gateway.store.writers import PreparedInsert


class SqliteWriter:
    def __init__(self, path: str, exchanges: PreparedInsert, bodies: PreparedInsert) -> None:
        self._exchanges = exchanges
        self._bodies = bodies
        self._direct: sqlite3.Connection | None = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False
        )
        for pragma in ("busy_timeout=0", "synchronous=NORMAL", "wal_autocheckpoint=0"):
            self._direct.execute(f"PRAGMA {pragma}")
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        # The batch last handed to the thread: one abandoned by the recorder's timeout runs on.
        self._threaded: Future[None] | None = None

    async def insert(self, records: Sequence[RecordRows]) -> None:
        """Insert records in one transaction; ids already stored are skipped."""
        if not records:
            return
        conn = self._direct
        if conn is None:
            raise RuntimeError("the SQLite writer is closed")
        exchanges = self._exchanges.parameters([r.exchange for r in records])
        bodies = self._bodies.parameters([b for r in records for b in r.bodies])
        # In a thread: SQLite does the B-tree work without the GIL, so the event loop keeps
        # answering requests meanwhile (one hand-off per batch, as it is one statement).
        # One thread of its own: a batch abandoned by the recorder's timeout still finishes
        # before the next one starts on the same connection.
        self._threaded = self._writer.submit(self._insert_direct, conn, exchanges, bodies)
        await asyncio.wrap_future(self._threaded)

    def _insert_direct(
        self, conn: sqlite3.Connection, exchanges: list[tuple[Any, ...]], bodies: list[tuple[Any, ...]]
    ) -> None:
        if conn.in_transaction:  # `commit` runs first on this thread, and ends it either way
            raise RuntimeError("records inserted by insert_here are not committed yet")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for insert, rows in ((self._exchanges, exchanges), (self._bodies, bodies)):
                start = 0
                for count in statement_sizes(len(rows), insert.rows_per_statement):
                    chunk = rows[start : start + count]
                    start += count
                    conn.execute(insert.multi_row_sql(count), [v for row in chunk for v in row])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def inserts_here(self) -> bool:
        """Whether `insert_here` may be used now: no batch running in the writer's thread."""
        return self._direct is not None and (self._threaded is None or self._threaded.done())

    def insert_here(self, records: Sequence[RecordRows], budget: float) -> int:
        """Insert records from the front, on the calling thread, into the transaction `commit`
        ends (begun here if none is open).

        Stops after the record that spends `budget` seconds and says how many went in (at least
        one). For a writer that shares its thread with requests and must hand it back soon: it
        inserts a unit at a time between requests and commits once, as a transaction per unit
        of two or three records cost twice the CPU per record of one per batch. On an error the
        open transaction is rolled back, what earlier calls inserted in it too, and it raises.
        """
        conn = self._direct
        if conn is None:
            raise RuntimeError("the SQLite writer is closed")
        until = time.perf_counter() + budget
        count = 0
        try:
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")
            for record in records:
                conn.execute(
                    self._exchanges.multi_row_sql(1), self._exchanges.parameters([record.exchange])[0]
                )
                if record.bodies:
                    bodies = self._bodies.parameters(record.bodies)
                    conn.execute(self._bodies.multi_row_sql(len(bodies)), [v for row in bodies for v in row])
                count += 1
                if time.perf_counter() >= until:
                    break
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return count

    async def commit(self) -> None:
        """Commit what `insert_here` inserted, in the writer's thread (the commit writes the
        transaction's pages to the log: file I/O, without the GIL). Rolled back if it fails."""
        conn = self._direct
        if conn is not None and conn.in_transaction:
            self._threaded = self._writer.submit(_commit, conn)
            await asyncio.wrap_future(self._threaded)

    async def checkpoint(self) -> None:
        """Fold the WAL into the database file, in the writer's thread (off the loop: the copy is
        file I/O, and SQLAlchemy's async machinery would cost the loop more than it)."""
        if self._direct is not None and not self._direct.in_transaction:
            self._threaded = self._writer.submit(_checkpoint, self._direct)
            await asyncio.wrap_future(self._threaded)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        if self._direct is not None:
            if self._direct.in_transaction:  # what insert_here left uncommitted is the caller's still
                self._direct.execute("ROLLBACK")
            self._direct.close()
            self._direct = None


def statement_sizes(rows: int, most: int) -> list[int]:
    """How many rows each multi-row statement of a batch takes: powers of two (200 = 128 + 64 + 8).

    sqlite3 keeps compiled statements by their text, and compiling a 200-row insert costs about
    half of what running it does; batch sizes vary with the load, so arbitrary sizes would compile
    anew nearly every time, where powers of two give a dozen statements, each compiled once.
    """
    largest = 1 << (most.bit_length() - 1)
    sizes = [largest] * (rows // largest)
    rest = rows % largest
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
