"""Who holds what: the credential that owns each file and cached content, remembered in the store.

Reads come from memory; a miss asks the store, so a replica learns what another one created and
a restarted gateway what it knew before. Writes go to memory at once and to the store before the
call that created the resource answers, so an owner is never lost to a crash after the client saw
the name. Without a store (or while it is down) ownership lives in memory only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from gemini_gateway.affinity.tables import ResourceOwner
from gemini_gateway.store.database import Database

log = logging.getLogger("gemini_gateway.affinity")


@dataclass(frozen=True, slots=True)
class Owner:
    credential_id: str
    expires_at: float | None = None
    client_id: str | None = None

    def live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now


class OwnerStore:
    def __init__(self, database: Database | None = None) -> None:
        self.database = database
        self._owners: dict[str, Owner] = {}

    def __len__(self) -> int:
        return len(self._owners)

    def holdings(self, limit: int = 20) -> dict[str, dict[str, dict[str, Any]]]:
        """What each credential's project holds, as far as this gateway knows: credential id ->
        kind (`files`, `cachedContents`, `batches`, `interactions`, `operations`, ...) -> count and the first
        `limit` names, for operators (`/api/pool`)."""
        now = time.time()
        held: dict[str, dict[str, dict[str, Any]]] = {}
        for name, owner in self._owners.items():
            if not owner.live(now):
                continue
            # `models/m/operations/x` is an operation, not a model
            kind = "operations" if "/operations/" in name else name.split("/", 1)[0]
            entry = held.setdefault(owner.credential_id, {}).setdefault(kind, {"count": 0, "names": []})
            entry["count"] += 1
            if len(entry["names"]) < limit:
                entry["names"].append(name)
        return held

    def known(self, name: str) -> Owner | None:
        """The owner held in memory, without asking the store."""
        owner = self._owners.get(name)
        return owner if owner is not None and owner.live(time.time()) else None

    async def owner(self, name: str) -> Owner | None:
        now = time.time()
        owner = self._owners.get(name)
        if owner is not None:
            return owner if owner.live(now) else None
        if self.database is None:
            return None
        try:
            async with self.database.sessions() as session:
                row = await session.get(ResourceOwner, name)
        except Exception as exc:  # a down store must not fail the call: route without affinity
            log.warning("could not read the owner of %s: %s", name, type(exc).__name__)
            return None
        if row is None:
            return None
        owner = Owner(row.credential_id, row.expires_at, row.client_id)
        self._owners[name] = owner
        return owner if owner.live(now) else None

    async def remember(
        self,
        name: str,
        credential_id: str,
        *,
        expires_at: float | None = None,
        client_id: str | None = None,
    ) -> None:
        await self.remember_many({name: Owner(credential_id, expires_at, client_id)})

    async def remember_many(self, owners: dict[str, Owner]) -> None:
        """Record owners; names already known with the same credential are not written again."""
        fresh = {n: o for n, o in owners.items() if self._owners.get(n) != o}
        if not fresh:
            return
        self._owners.update(fresh)
        if self.database is None:
            return
        now = time.time()
        try:
            async with self.database.sessions.begin() as session:
                for name, owner in fresh.items():
                    await session.merge(
                        ResourceOwner(
                            name=name,
                            credential_id=owner.credential_id,
                            client_id=owner.client_id,
                            created_at=now,
                            expires_at=owner.expires_at,
                        )
                    )
        except Exception as exc:  # memory still routes this process; only a restart would forget
            log.warning("could not store %d resource owner(s): %s", len(fresh), type(exc).__name__)

    async def forget(self, name: str) -> None:
        self._owners.pop(name, None)
        if self.database is None:
            return
        try:
            async with self.database.sessions.begin() as session:
                await session.execute(delete(ResourceOwner).where(ResourceOwner.name == name))
        except Exception as exc:
            log.warning("could not forget the owner of %s: %s", name, type(exc).__name__)

    async def load(self) -> None:
        """Warm memory with every owner not yet expired (a restart keeps routing without misses)."""
        if self.database is None:
            return
        now = time.time()
        async with self.database.sessions() as session:
            rows = await session.execute(
                select(ResourceOwner).where(
                    (ResourceOwner.expires_at.is_(None)) | (ResourceOwner.expires_at > now)
                )
            )
            for row in rows.scalars():
                self._owners[row.name] = Owner(row.credential_id, row.expires_at, row.client_id)

    async def prune(self) -> int:
        """Drop owners of resources Google has already deleted; returns how many rows went."""
        now = time.time()
        for name in [n for n, o in self._owners.items() if not o.live(now)]:
            del self._owners[name]
        if self.database is None:
            return 0
        async with self.database.sessions.begin() as session:
            result = await session.execute(delete(ResourceOwner).where(ResourceOwner.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)
