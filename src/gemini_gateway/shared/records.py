"""Rows in the store that replicas share besides the pool snapshot: operator switches and change stamps.

Both live in `pool_state` (migration 0001) under ids no credential can have ("~operator:", "~changed:"),
so no migration is needed and the pool's own saver, which writes only rows of credentials, never
touches them.

- An operator's enable/disable is its own record, one row per credential, written only by the
  admin API: health bookkeeping (the periodic pool snapshot) can no longer undo it.
- A change stamp per topic (tokens, settings, keys, switches) is rewritten after each admin
  change; replicas without Redis poll the stamps to learn what to reload, or on PostgreSQL are
  told by a NOTIFY sent in the stamp's transaction (shared/pg_notify.py).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import select, text

from gemini_gateway.shared.pg_notify import CHANNEL, payload
from gemini_gateway.store.database import Database
from gemini_gateway.store.models import PoolState

OPERATOR = "~operator:"
CHANGED = "~changed:"


async def _put(
    database: Database, row_id: str, kind: str, state: dict[str, Any], notify: str | None = None
) -> None:
    async with database.sessions.begin() as session:
        row = await session.get(PoolState, row_id)
        if row is None:
            session.add(PoolState(credential_id=row_id, kind=kind, state=state, updated_at=time.time()))
        else:
            row.state, row.updated_at = state, time.time()
        if notify is not None:  # delivered at commit, so a listener finds the stamp written
            await session.flush()
            await session.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": notify}
            )


async def save_switch(database: Database, credential_id: str, enabled: bool, actor: str) -> None:
    await _put(database, OPERATOR + credential_id, "operator", {"enabled": enabled, "by": actor})


async def load_switches(database: Database) -> dict[str, bool]:
    """credential id -> what the operator last chose."""
    async with database.sessions() as session:
        rows = (await session.execute(select(PoolState).where(PoolState.kind == "operator"))).scalars()
        return {r.credential_id.removeprefix(OPERATOR): bool(r.state.get("enabled", True)) for r in rows}


def announces(database: Database) -> bool:
    """Whether stamps come with a NOTIFY (PostgreSQL) that replicas can LISTEN for."""
    return database.engine.dialect.name == "postgresql"


async def stamp(database: Database, topic: str, replica: str = "") -> str:
    value = secrets.token_hex(8)
    notify = payload(topic, value, replica) if announces(database) else None
    await _put(database, CHANGED + topic, "changed", {"stamp": value}, notify)
    return value


async def load_stamps(database: Database) -> dict[str, str]:
    async with database.sessions() as session:
        rows = (await session.execute(select(PoolState).where(PoolState.kind == "changed"))).scalars()
        return {r.credential_id.removeprefix(CHANGED): str(r.state.get("stamp")) for r in rows}
