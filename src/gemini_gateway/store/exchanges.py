"""Writing and reading recorded exchanges, the same way on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, ColumnElement, Dialect, Insert, Table, and_, delete, or_, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from gemini_gateway.store.codec import decompress
from gemini_gateway.store.database import Database
from gemini_gateway.store.jsonsafe import READ_DEPTH, depth_exceeds, may_nest_deeper
from gemini_gateway.store.models import ExchangeBody, ExchangeRow

EXCHANGES: Table = ExchangeRow.__table__  # type: ignore[assignment]
BODIES: Table = ExchangeBody.__table__  # type: ignore[assignment]
SQLITE_MAX_PARAMETERS = 32766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32
SUMMARY_COLUMNS = [c for c in EXCHANGES.c if c.name not in ("request_headers", "response_headers")]


@dataclass(slots=True)
class RecordRows:
    """One exchange as rows: `exchange` for the `exchanges` table, `bodies` for `exchange_bodies`."""

    exchange: dict[str, Any]
    bodies: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, frozen=True)
class LogFilter:
    """The filters every read (list, stats, export) accepts; None means "any"."""

    since_ms: int | None = None
    until_ms: int | None = None
    model: str | None = None
    status: str | None = None  # "429", or a class: "4xx", "5xx"
    client: str | None = None
    credential: str | None = None
    dialect: str | None = None
    errors_only: bool = False

    def clauses(self) -> list[ColumnElement[bool]]:
        c = EXCHANGES.c
        found: list[ColumnElement[bool]] = []
        if self.since_ms is not None:
            found.append(c.received_at_ms >= self.since_ms)
        if self.until_ms is not None:
            found.append(c.received_at_ms < self.until_ms)
        if self.model:
            found.append(c.model == self.model.removeprefix("models/"))
        if self.client:
            found.append(c.client_id == self.client)
        if self.credential:
            found.append(or_(c.credential == self.credential, c.credential_id == self.credential))
        if self.dialect:
            found.append(c.dialect == self.dialect)
        if self.status:
            found.append(_status_clause(self.status))
        if self.errors_only:
            found.append(or_(c.status >= 400, c.error.is_not(None)))
        return found


def parse_time_ms(value: str | None) -> int | None:
    """Epoch milliseconds from epoch seconds or an ISO 8601 time (UTC when no zone is given)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return int(float(text) * 1000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r} (use ISO 8601 or epoch seconds)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _status_clause(status: str) -> ColumnElement[bool]:
    text = status.strip().lower()
    if len(text) == 3 and text.endswith("xx") and text[0].isdigit():
        low = int(text[0]) * 100
        return and_(EXCHANGES.c.status >= low, EXCHANGES.c.status < low + 100)
    return EXCHANGES.c.status == int(text)


def insert_ignoring_duplicates(dialect: str, table: Table) -> Insert:
    """INSERT that skips rows whose primary key exists: what makes spool replay exactly-once."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        statement = mysql.insert(table)
        key = table.primary_key.columns.values()[0].name
        # A no-op update on duplicate key (not INSERT IGNORE, which would also hide data errors).
        return statement.on_duplicate_key_update({key: statement.inserted[key]})
    raise ValueError(f"unsupported database dialect {dialect!r}")


class _PreparedInsert:
    """An insert compiled once to the driver's SQL, fed positional tuples.

    The recorder inserts thousands of rows a second; SQLAlchemy's per-row bind processing cost
    more than the database's own work, so rows go to the driver as tuples, JSON pre-encoded.
    """

    def __init__(self, dialect: Dialect, table: Table) -> None:
        statement = insert_ignoring_duplicates(dialect.name, table)
        compiled = statement.compile(dialect=dialect, column_keys=[c.name for c in table.c])
        self.sql = compiled.string
        self.keys = list(compiled.positiontup or [])
        if sorted(self.keys) != sorted(c.name for c in table.c):
            raise RuntimeError(f"unexpected insert parameters for {table.name}: {self.keys}")
        self._values = itemgetter(*self.keys)
        self._json_positions = [i for i, k in enumerate(self.keys) if isinstance(table.c[k].type, JSON)]
        self._multi_row: dict[int, str] = {}

    def multi_row_sql(self, count: int) -> str:
        """The same insert with `count` VALUES groups (SQLite's `?` style), cached per count."""
        sql = self._multi_row.get(count)
        if sql is None:
            head, values, tail = self.sql.partition(" VALUES ")
            group, close, rest = tail.partition(")")
            sql = f"{head}{values}{', '.join([group + close] * count)}{rest}"
            self._multi_row[count] = sql
        return sql

    def parameters(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        if not self._json_positions:
            return [self._values(row) for row in rows]
        result = []
        for row in rows:
            values = list(self._values(row))
            for i in self._json_positions:
                if values[i] is not None:
                    values[i] = _json_text(values[i])
            result.append(tuple(values))
        return result


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class ExchangeStore:
    def __init__(self, database: Database, *, direct_writes: bool = False) -> None:
        self.database = database
        self.dialect = database.engine.dialect.name
        self._direct: sqlite3.Connection | None = None
        path = make_url(database.url).database if self.dialect == "sqlite" else None
        if direct_writes and path and path != ":memory:":
            # The recorder's SQLite inserts go through this connection, a batch as one multi-row
            # statement: cheaper than aiosqlite, whose GIL hand-offs (one per row with
            # executemany) cost more CPU than the insert under load. busy_timeout=0 makes a
            # locked database fail at once (the batch is spooled) instead of holding the writer;
            # the automatic WAL checkpoint is off here and run by `checkpoint()`.
            self._direct = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in ("busy_timeout=0", "synchronous=NORMAL", "wal_autocheckpoint=0"):
                self._direct.execute(f"PRAGMA {pragma}")
        self._writer: ThreadPoolExecutor | None = None
        # The batch last handed to the thread: one abandoned by the recorder's timeout runs on.
        self._threaded: Future[None] | None = None
        if self._direct is not None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._exchanges = _PreparedInsert(database.engine.dialect, EXCHANGES)
        self._bodies = _PreparedInsert(database.engine.dialect, BODIES)

    async def insert(self, records: Sequence[RecordRows]) -> None:
        """Insert records in one transaction; ids already stored are skipped."""
        if not records:
            return
        exchanges = self._exchanges.parameters([r.exchange for r in records])
        bodies = self._bodies.parameters([b for r in records for b in r.bodies])
        if self._direct is not None:
            # In a thread: SQLite does the B-tree work without the GIL, so the event loop keeps
            # answering requests meanwhile (one hand-off per batch, as it is one statement).
            # One thread of its own: a batch abandoned by the recorder's timeout still finishes
            # before the next one starts on the same connection.
            assert self._writer is not None
            self._threaded = self._writer.submit(self._insert_direct, self._direct, exchanges, bodies)
            await asyncio.wrap_future(self._threaded)
            return
        async with self.database.engine.begin() as conn:
            await self._execute(conn, self._exchanges, exchanges)
            if bodies:
                await self._execute(conn, self._bodies, bodies)

    def _insert_direct(
        self, conn: sqlite3.Connection, exchanges: list[tuple[Any, ...]], bodies: list[tuple[Any, ...]]
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for insert, rows in ((self._exchanges, exchanges), (self._bodies, bodies)):
                per_statement = max(1, SQLITE_MAX_PARAMETERS // len(insert.keys))
                for start in range(0, len(rows), per_statement):
                    chunk = rows[start : start + per_statement]
                    conn.execute(insert.multi_row_sql(len(chunk)), [v for row in chunk for v in row])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @property
    def inserts_here(self) -> bool:
        """Whether `insert_here` may be used now: SQLite written directly, no batch in the thread."""
        return self._direct is not None and (self._threaded is None or self._threaded.done())

    def insert_here(self, records: Sequence[RecordRows], budget: float) -> int:
        """Insert records from the front, on the calling thread, in one transaction.

        Stops after the record that spends `budget` seconds and says how many went in (at least
        one). For a writer that shares its thread with requests and must hand it back soon.
        """
        conn = self._direct
        if conn is None:
            raise RuntimeError("insert_here needs direct SQLite writes")
        until = time.perf_counter() + budget
        count = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
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
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return count

    async def checkpoint(self) -> None:
        """Fold the SQLite WAL into the database file, in the writer's thread (off the loop: the
        copy is file I/O, and SQLAlchemy's async machinery would cost the loop more than it)."""
        if self._direct is not None and self._writer is not None:
            self._threaded = self._writer.submit(_checkpoint, self._direct)
            await asyncio.wrap_future(self._threaded)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        if self._direct is not None:
            self._direct.close()
            self._direct = None

    async def _execute(
        self, conn: AsyncConnection, insert: _PreparedInsert, rows: list[tuple[Any, ...]]
    ) -> None:
        if self.dialect != "sqlite":
            await conn.exec_driver_sql(insert.sql, rows)
            return
        # SQLite runs in aiosqlite's thread, and executemany hands the GIL back and forth once per
        # row; under load each hand-back waits out the interpreter's switch interval, which made
        # a 200-row batch take a second. One multi-row statement is one hand-off.
        per_statement = max(1, SQLITE_MAX_PARAMETERS // len(insert.keys))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            flat = tuple(value for row in chunk for value in row)
            await conn.exec_driver_sql(insert.multi_row_sql(len(chunk)), flat)

    async def page(
        self, where: LogFilter, *, cursor: str | None = None, limit: int = 50
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; `cursor` is the `next_cursor` of the previous page."""
        c = EXCHANGES.c
        query = select(*SUMMARY_COLUMNS).where(*where.clauses())
        if cursor:
            at_ms, _, after_id = cursor.partition("_")
            at = int(at_ms)
            query = query.where(or_(c.received_at_ms < at, and_(c.received_at_ms == at, c.id < after_id)))
        query = query.order_by(c.received_at_ms.desc(), c.id.desc()).limit(limit + 1)
        async with self.database.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = f"{rows[-1]['received_at_ms']}_{rows[-1]['id']}" if more and rows else None
        return rows, next_cursor

    async def get(self, exchange_id: str) -> dict[str, Any] | None:
        async with self.database.engine.connect() as conn:
            row = (await conn.execute(select(EXCHANGES).where(EXCHANGES.c.id == exchange_id))).first()
            if row is None:
                return None
            record = dict(row._mapping)
            await self._attach_bodies(conn, [record])
        return record

    async def _attach_bodies(self, conn: AsyncConnection, records: list[dict[str, Any]]) -> None:
        by_id = {r["id"]: r for r in records}
        for r in records:
            r["request_body"] = r["response_body"] = None
        if not by_id:
            return
        rows = await conn.execute(select(BODIES).where(BODIES.c.exchange_id.in_(list(by_id))))
        for body in rows:
            by_id[body.exchange_id][f"{body.part}_body"] = decode_body(
                body.data, body.codec, body.truncated, body.original_bytes, body.content_type
            )

    async def iterate(self, where: LogFilter, *, chunk: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every matching record, oldest first, bodies decoded; reads in chunks to bound memory."""
        c = EXCHANGES.c
        after: tuple[int, str] | None = None
        while True:
            query = select(EXCHANGES).where(*where.clauses())
            if after is not None:
                query = query.where(
                    or_(c.received_at_ms > after[0], and_(c.received_at_ms == after[0], c.id > after[1]))
                )
            query = query.order_by(c.received_at_ms, c.id).limit(chunk)
            async with self.database.engine.connect() as conn:
                records = [dict(r._mapping) for r in await conn.execute(query)]
                await self._attach_bodies(conn, records)
            for record in records:
                yield record
            if len(records) < chunk:
                return
            after = (records[-1]["received_at_ms"], records[-1]["id"])

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete exchanges and their bodies (explicitly: SQLite does not enforce the cascade)."""
        if not ids:
            return 0
        async with self.database.engine.begin() as conn:
            await conn.execute(delete(BODIES).where(BODIES.c.exchange_id.in_(ids)))
            result = await conn.execute(delete(EXCHANGES).where(EXCHANGES.c.id.in_(ids)))
        return int(result.rowcount or 0)


def decode_body(data: bytes, codec: str, truncated: bool, original: int, content_type: str | None) -> Any:
    """A stored body for reading: JSON as objects, text as text; truncation stated, not hidden."""
    raw = decompress(data, codec)
    value: Any
    try:
        value = orjson.loads(raw) if not truncated else None
    except orjson.JSONDecodeError:
        value = None
    if value is not None and may_nest_deeper(raw, READ_DEPTH) and depth_exceeds(value, READ_DEPTH):
        value = None  # deeper than the admin API and export can serialise: served as its text
    if value is None:
        value = raw.decode("utf-8", errors="replace")
    if truncated:
        return {"truncated": True, "original_bytes": original, "content_type": content_type, "text": value}
    return value
