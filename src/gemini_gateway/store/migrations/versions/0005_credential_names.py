"""credential names: the name an operator gives an upstream credential in the admin UI

Revision ID: 0005_credential_names
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_credential_names"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table of its own, not a column of upstream_credentials: keys from GEMINI_API_KEYS, OAuth
    # accounts and executors are named too, and they have no row there.
    op.create_table(
        "credential_names",
        sa.Column("credential_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credential_names")
