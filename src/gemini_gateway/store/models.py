"""Tables. Every change here comes with an Alembic migration in `migrations/versions/`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine


class Base(DeclarativeBase):
    pass


class PoolState(Base):
    """Credential state that must survive a restart: cooldowns, disabled reasons, counters."""

    __tablename__ = "pool_state"

    credential_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[float] = mapped_column(Float)


class Blob(TypeDecorator[bytes]):
    """Bodies can be several MB (a 700k-token prompt); MySQL's plain BLOB stops at 64 KB.

    A decorator, not `LargeBinary().with_variant(mysql.LONGBLOB(), ...)`: that imports SQLAlchemy's
    MySQL dialect (~1.5 MB) into every gateway; here it is imported by a MySQL store only.
    """

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import LONGBLOB

            return dialect.type_descriptor(LONGBLOB())
        return dialect.type_descriptor(LargeBinary())


class ExchangeRow(Base):
    """One recorded exchange: the columns queries filter and aggregate on, bodies kept apart."""

    __tablename__ = "exchanges"
    __table_args__ = (
        Index("ix_exchanges_model_time", "model", "received_at_ms"),
        Index("ix_exchanges_client_time", "client_id", "received_at_ms"),
        Index("ix_exchanges_credential_time", "credential", "received_at_ms"),
    )

    # uuid4 hex made by the recorder, so a replayed spool line can be inserted "once" by key.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Integer milliseconds: `ms - ms % bucket` groups per hour/day the same way on every store.
    received_at_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    mode: Mapped[str] = mapped_column(String(10))
    dialect: Mapped[str] = mapped_column(String(16), index=True)
    route: Mapped[str] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    query: Mapped[str | None] = mapped_column(Text, nullable=True)
    model: Mapped[str | None] = mapped_column(String(128), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    credential: Mapped[str | None] = mapped_column(String(64), nullable=True)
    credential_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    stream: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int] = mapped_column(Integer, index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[float] = mapped_column(Float, index=True)
    first_byte_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    upstream_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer)
    request_bytes: Mapped[int] = mapped_column(Integer)
    response_bytes: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    candidates_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    thoughts_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cached_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total_tokens: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    finish_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    generation_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request_headers: Mapped[dict[str, str]] = mapped_column(JSON)
    response_headers: Mapped[dict[str, str]] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)  # stored bytes, for the retention size budget
    # The gateway process that served it (REPLICA_ID, default host:pid), when several share a store.
    replica: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ExchangeBody(Base):
    """A compressed body of an exchange: part is "request" or "response" (merged, for streams)."""

    __tablename__ = "exchange_bodies"

    exchange_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("exchanges.id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[str] = mapped_column(String(16), primary_key=True)
    codec: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    original_bytes: Mapped[int] = mapped_column(Integer)
    truncated: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[bytes] = mapped_column(Blob)
