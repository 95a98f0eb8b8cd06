"""The table that remembers which upstream credential holds each file and cached content.

It shares the store's `Base`, so the one Alembic history (migration 0004) creates it.
"""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from gemini_gateway.store.models import Base


class ResourceOwner(Base):
    """`files/abc` or `cachedContents/xyz` -> the credential whose project holds it."""

    __tablename__ = "resource_owners"

    name: Mapped[str] = mapped_column(String(160), primary_key=True)
    credential_id: Mapped[str] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[float] = mapped_column(Float)
    # When Google drops it (files after 48 h, caches at their expireTime); None = unknown.
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
