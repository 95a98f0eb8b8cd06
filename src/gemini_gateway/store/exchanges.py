"""Writing and reading recorded exchanges, the same way on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gemini_gateway.store.codec import decompress
from gemini_gateway.store.database import Database
from gemini_gateway.store.jsonsafe import READ_DEPTH, depth_exceeds, may_nest_deeper
from gemini_gateway.store.writers import BODIES as BODIES  # re-exported: the queries elsewhere use them
from gemini_gateway.store.writers import EXCHANGES as EXCHANGES
from gemini_gateway.store.writers import RecordWriter, open_writer

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


class ExchangeStore:
    def __init__(self, database: Database, *, direct_writes: bool = False) -> None:
        self.database = database
        self.dialect = database.engine.dialect.name
        # How records go in, chosen once: the SQLite fast writer for the recorder's own store
        # (`direct_writes`), else SQLAlchemy's engine (see writers.py).
        self.writer: RecordWriter = open_writer(database, direct_writes=direct_writes)

    async def insert(self, records: Sequence[RecordRows]) -> None:
        """Insert records in one transaction; ids already stored are skipped."""
        await self.writer.insert(records)

    @property
    def inserts_here(self) -> bool:
        """Whether `insert_here` may be used now: SQLite written directly, no batch in the thread."""
        return self.writer.inserts_here

    def insert_here(self, records: Sequence[RecordRows], budget: float) -> int:
        """Insert records from the front, on the calling thread, into a transaction that
        `commit` ends.

        Stops after the record that spends `budget` seconds and says how many went in (at least
        one). For a writer that shares its thread with requests and must hand it back soon. On an
        error, what it inserted since the last commit is rolled back.
        """
        return self.writer.insert_here(records, budget)

    async def commit(self) -> None:
        """Commit what `insert_here` inserted."""
        await self.writer.commit()

    async def checkpoint(self) -> None:
        """Fold the SQLite WAL into the database file (the fast writer's; a no-op otherwise)."""
        await self.writer.checkpoint()

    def close(self) -> None:
        self.writer.close()

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
