"""Who made a management change, and the audit log entry each change writes.

Apart from the route dependencies in deps.py (FastAPI): the pool's healer audits too, in a
gateway that may never load the admin app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gemini_gateway.admin import repo
from gemini_gateway.shared import changed
from gemini_gateway.store.database import Database


@dataclass(frozen=True, slots=True)
class Actor:
    """The admin behind a management call, for the audit log."""

    id: str
    address: str


async def audit(
    database: Database, actor: Actor, action: str, target: str | None = None, old: Any = None, new: Any = None
) -> None:
    await repo.add_audit(
        database, actor=actor.id, address=actor.address, action=action, target=target, old=old, new=new
    )
    await changed(database, action)  # every admin write is audited: the one place to tell other replicas
