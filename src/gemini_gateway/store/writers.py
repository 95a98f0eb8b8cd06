"""Inserting records: one `RecordWriter` protocol, chosen once when a store opens.

Two writers sit behind it. `EngineWriter` goes through SQLAlchemy's async engine and works on
every database; `SqliteWriter` (sqlite_writer.py) writes a SQLite file through its own `sqlite3`
connection, for speed. Callers (the recorder, the store tests, the benchmarks) see one path:
`ExchangeStore.insert`, and, where the writer allows it, `insert_here`.

Both insert the same way: an insert compiled once to the driver's SQL and fed positional tuples,
skipping ids already stored (what makes spool replay exactly-once).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from sqlalchemy import JSON, Dialect, Insert, Table
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from gemini_gateway.store.database import Database
from gemini_gateway.store.models import ExchangeBody, ExchangeRow
from gemini_gateway.store.sqlite_writer import SqliteWriter

if TYPE_CHECKING:
    from gemini_gateway.store.exchanges import RecordRows

EXCHANGES: Table = ExchangeRow.__table__  # type: ignore[assignment]
BODIES: Table = ExchangeBody.__table__  # type: ignore[assignment]
SQLITE_MAX_PARAMETERS = 32766  # SQLITE_MAX_VARIABLE_NUMBER since SQLite 3.32


class RecordWriter(Protocol):
    async def insert(self, records: Sequence[RecordRows]) -> None:
        """Insert records in one transaction; ids already stored are skipped."""

    @property
    def inserts_here(self) -> bool:
        """Whether `insert_here` may be used now."""

    def insert_here(self, records: Sequence[RecordRows], budget: float) -> int:
        """Insert records from the front on the calling thread, for about `budget` seconds, into
        a transaction that `commit` ends."""

    async def commit(self) -> None:
        """Commit what `insert_here` inserted (nothing to do when it inserted nothing)."""

    async def checkpoint(self) -> None:
        """Fold what was written into the database file, where the database has such a step."""

    def close(self) -> None:
        """Release what the writer holds of its own (connections, threads)."""


def open_writer(database: Database, *, direct_writes: bool = False) -> RecordWriter:
    """The writer for `database`: SQLite files written directly when asked, else the engine."""
    dialect = database.engine.dialect
    exchanges, bodies = PreparedInsert(dialect, EXCHANGES), PreparedInsert(dialect, BODIES)
    path = make_url(database.url).database if dialect.name == "sqlite" else None
    if direct_writes and path and path != ":memory:":
        return SqliteWriter(path, exchanges, bodies)
    return EngineWriter(database, exchanges, bodies)


def insert_ignoring_duplicates(dialect: str, table: Table) -> Insert:
    """INSERT that skips rows whose primary key exists: what makes spool replay exactly-once."""
    # Each dialect's module imported when its store is used: PostgreSQL's and MySQL's take ~5 MB.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects import mysql

        statement = mysql.insert(table)
        key = table.primary_key.columns.values()[0].name
        # A no-op update on duplicate key (not INSERT IGNORE, which would also hide data errors).
        return statement.on_duplicate_key_update({key: statement.inserted[key]})
    raise ValueError(f"unsupported database dialect {dialect!r}")


class PreparedInsert:
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
        # Rows per multi-row statement that stay within SQLite's parameter limit.
        self.rows_per_statement = max(1, SQLITE_MAX_PARAMETERS // len(self.keys))

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


def _json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


class EngineWriter:
    """Inserts through SQLAlchemy's async engine: PostgreSQL, MySQL/MariaDB, and SQLite for readers."""

    def __init__(self, database: Database, exchanges: PreparedInsert, bodies: PreparedInsert) -> None:
        self.database = database
        self.dialect = database.engine.dialect.name
        self._exchanges = exchanges
        self._bodies = bodies

    async def insert(self, records: Sequence[RecordRows]) -> None:
        if not records:
            return
        exchanges = self._exchanges.parameters([r.exchange for r in records])
        bodies = self._bodies.parameters([b for r in records for b in r.bodies])
        async with self.database.engine.begin() as conn:
            await self._execute(conn, self._exchanges, exchanges)
            if bodies:
                await self._execute(conn, self._bodies, bodies)

    @property
    def inserts_here(self) -> bool:
        return False  # every insert awaits the driver

    def insert_here(self, records: Sequence[RecordRows], budget: float) -> int:
        raise RuntimeError("insert_here needs direct SQLite writes")

    async def commit(self) -> None:
        return None  # every insert commits its own transaction

    async def checkpoint(self) -> None:
        return None  # the engine's SQLite connections checkpoint on their own

    def close(self) -> None:
        return None  # the engine belongs to the Database

    async def _execute(
        self, conn: AsyncConnection, insert: PreparedInsert, rows: list[tuple[Any, ...]]
    ) -> None:
        if self.dialect != "sqlite":
            await conn.exec_driver_sql(insert.sql, rows)
            return
        # SQLite runs in aiosqlite's thread, and executemany hands the GIL back and forth once per
        # row; under load each hand-back waits out the interpreter's switch interval, which made
        # a 200-row batch take a second. One multi-row statement is one hand-off.
        per_statement = insert.rows_per_statement
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            flat = tuple(value for row in chunk for value in row)
            await conn.exec_driver_sql(insert.multi_row_sql(len(chunk)), flat)
