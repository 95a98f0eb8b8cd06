"""Database reads and writes of the admin tables (no business rules: those live with the routes)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select, update

from gemini_gateway.admin.tables import AuditEntry, ClientToken, CredentialName, StoredSetting
from gemini_gateway.store.database import Database


def _wrap(value: Any) -> dict[str, Any]:
    """JSON columns hold objects only: SQLite's JSON column has numeric affinity and hands a stored
    `7` back as an integer, which a JSON decoder then refuses."""
    return {"v": value}


def _unwrap(stored: Any) -> Any:
    return stored.get("v") if isinstance(stored, dict) else stored


async def add_audit(
    database: Database,
    *,
    actor: str,
    address: str | None,
    action: str,
    target: str | None = None,
    old: Any = None,
    new: Any = None,
) -> None:
    async with database.sessions.begin() as session:
        session.add(
            AuditEntry(
                at=time.time(),
                actor=actor,
                address=address,
                action=action,
                target=target,
                old=_wrap(old),
                new=_wrap(new),
            )
        )


async def list_audit(database: Database, *, limit: int, before: int | None) -> list[dict[str, Any]]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    async with database.sessions() as session:
        rows = (await session.execute(query)).scalars().all()
    return [
        {
            "id": r.id,
            "at": r.at,
            "actor": r.actor,
            "address": r.address,
            "action": r.action,
            "target": r.target,
            "old": _unwrap(r.old),
            "new": _unwrap(r.new),
        }
        for r in rows
    ]


async def load_settings(database: Database) -> dict[str, Any]:
    async with database.sessions() as session:
        rows = (await session.execute(select(StoredSetting))).scalars().all()
    return {row.name: _unwrap(row.value) for row in rows}


async def save_settings(database: Database, values: dict[str, Any], actor: str) -> None:
    now = time.time()
    async with database.sessions.begin() as session:
        existing = {
            row.name: row
            for row in (
                await session.execute(select(StoredSetting).where(StoredSetting.name.in_(list(values))))
            ).scalars()
        }
        for name, value in values.items():
            row = existing.get(name)
            if row is None:
                session.add(StoredSetting(name=name, value=_wrap(value), updated_at=now, updated_by=actor))
            else:
                row.value, row.updated_at, row.updated_by = _wrap(value), now, actor


async def delete_setting(database: Database, name: str) -> None:
    async with database.sessions.begin() as session:
        await session.execute(delete(StoredSetting).where(StoredSetting.name == name))


async def load_tokens(database: Database) -> list[ClientToken]:
    async with database.sessions() as session:
        rows = (await session.execute(select(ClientToken).order_by(ClientToken.created_at))).scalars()
        return list(rows)


async def add_token(database: Database, token: ClientToken) -> None:
    async with database.sessions.begin() as session:
        session.add(token)


async def revoke_token(database: Database, token_id: str) -> None:
    async with database.sessions.begin() as session:
        await session.execute(
            update(ClientToken).where(ClientToken.id == token_id).values(revoked_at=time.time())
        )


async def load_names(database: Database) -> dict[str, str]:
    async with database.sessions() as session:
        rows = (await session.execute(select(CredentialName))).scalars()
        return {row.credential_id: row.name for row in rows}


async def set_name(database: Database, credential_id: str, name: str | None, actor: str) -> None:
    """Name a credential, or forget its name (None)."""
    async with database.sessions.begin() as session:
        await session.execute(delete(CredentialName).where(CredentialName.credential_id == credential_id))
        if name is not None:
            session.add(
                CredentialName(
                    credential_id=credential_id, name=name, updated_at=time.time(), updated_by=actor
                )
            )
