"""Tables. Every change here comes with an Alembic migration in `migrations/versions/`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PoolState(Base):
    """Credential state that must survive a restart: cooldowns, disabled reasons, counters."""

    __tablename__ = "pool_state"

    credential_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)
