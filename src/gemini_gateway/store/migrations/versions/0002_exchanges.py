"""recorded exchanges and their compressed bodies

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# LONGBLOB on MySQL/MariaDB: the default BLOB holds only 64 KB and bodies reach several MB.
BLOB = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "exchanges",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("received_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("dialect", sa.String(16), nullable=False),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("query", sa.Text(), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("credential", sa.String(64), nullable=True),
        sa.Column("credential_id", sa.String(64), nullable=True),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("first_byte_ms", sa.Float(), nullable=True),
        sa.Column("upstream_ms", sa.Float(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("request_bytes", sa.Integer(), nullable=False),
        sa.Column("response_bytes", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("candidates_tokens", sa.Integer(), nullable=True),
        sa.Column("thoughts_tokens", sa.Integer(), nullable=True),
        sa.Column("cached_tokens", sa.Integer(), nullable=True),
        sa.Column("total_tokens", sa.Integer(), nullable=True),
        sa.Column("finish_reason", sa.String(64), nullable=True),
        sa.Column("generation_settings", sa.JSON(), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.JSON(), nullable=False),
        sa.Column("request_headers", sa.JSON(), nullable=False),
        sa.Column("response_headers", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
    )
    for column in ("received_at_ms", "dialect", "status", "duration_ms", "total_tokens"):
        op.create_index(f"ix_exchanges_{column}", "exchanges", [column])
    op.create_index("ix_exchanges_model_time", "exchanges", ["model", "received_at_ms"])
    op.create_index("ix_exchanges_client_time", "exchanges", ["client_id", "received_at_ms"])
    op.create_index("ix_exchanges_credential_time", "exchanges", ["credential", "received_at_ms"])
    op.create_table(
        "exchange_bodies",
        sa.Column(
            "exchange_id",
            sa.String(32),
            sa.ForeignKey("exchanges.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("part", sa.String(16), primary_key=True),
        sa.Column("codec", sa.String(8), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=True),
        sa.Column("original_bytes", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("data", BLOB, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("exchange_bodies")
    op.drop_table("exchanges")
