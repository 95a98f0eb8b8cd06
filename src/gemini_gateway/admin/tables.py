"""Tables of the management side: stored settings, the audit trail, client tokens.

Upstream secrets added at run time have theirs in store/secrets.py.

They share the store's `Base`, so one Alembic history (migrations 0003, 0005) creates them with the rest.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gemini_gateway.store.models import Base


class StoredSetting(Base):
    """A runtime setting changed in the admin UI; it wins over the environment until reset."""

    __tablename__ = "settings_overrides"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Who changed what, when; secret values are stored masked."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200), nullable=True)
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)


class ClientToken(Base):
    """A client token made in the admin UI: only its sha256 digest is kept, plus a masked hint."""

    __tablename__ = "client_tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(10))
    models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    rate_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)  # requests per minute
    hint: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class CredentialName(Base):
    """The name an operator gave a credential (of any kind or source), shown beside its mask."""

    __tablename__ = "credential_names"

    credential_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(64))
