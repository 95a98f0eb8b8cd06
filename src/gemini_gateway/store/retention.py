"""Retention: drop records older than N days and/or the oldest beyond a size budget.

Deletes go in small batches with a pause between them, so a large purge never holds a long
transaction (or SQLite's single write lock) against the recorder's inserts.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from gemini_gateway.store.exchanges import EXCHANGES, ExchangeStore


async def purge_older_than(
    store: ExchangeStore, cutoff_ms: int, *, batch: int = 500, pause: float = 0.01
) -> int:
    deleted = 0
    query = select(EXCHANGES.c.id).where(EXCHANGES.c.received_at_ms < cutoff_ms).limit(batch)
    while True:
        async with store.database.engine.connect() as conn:
            ids = list((await conn.execute(query)).scalars())
        if not ids:
            return deleted
        deleted += await store.delete(ids)
        await asyncio.sleep(pause)


async def stored_bytes(store: ExchangeStore) -> int:
    async with store.database.engine.connect() as conn:
        return int(
            (await conn.execute(select(func.coalesce(func.sum(EXCHANGES.c.size_bytes), 0)))).scalar_one()
        )


async def purge_beyond_size(
    store: ExchangeStore, budget_bytes: int, *, batch: int = 500, pause: float = 0.01
) -> int:
    """Delete the oldest records until the recorded size (bodies compressed) fits `budget_bytes`."""
    deleted = 0
    excess = await stored_bytes(store) - budget_bytes
    c = EXCHANGES.c
    while excess > 0:
        query = select(c.id, c.size_bytes).order_by(c.received_at_ms, c.id).limit(batch)
        async with store.database.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            break
        ids: list[str] = []
        for row in rows:
            if excess <= 0:
                break
            ids.append(row.id)
            excess -= int(row.size_bytes)
        deleted += await store.delete(ids)
        await asyncio.sleep(pause)
    return deleted


async def apply_retention(store: ExchangeStore, *, days: float, max_mb: float, batch: int = 500) -> int:
    """One retention pass under the configured rules (0 disables a rule); returns rows deleted."""
    deleted = 0
    if days > 0:
        deleted += await purge_older_than(store, int((time.time() - days * 86400) * 1000), batch=batch)
    if max_mb > 0:
        deleted += await purge_beyond_size(store, int(max_mb * 1024 * 1024), batch=batch)
    return deleted
