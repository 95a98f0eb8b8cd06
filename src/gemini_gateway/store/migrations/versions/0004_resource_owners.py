"""resource owners: the credential that holds each uploaded file and cached content

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_owners",
        sa.Column("name", sa.String(160), primary_key=True),
        sa.Column("credential_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
    )
    op.create_index("ix_resource_owners_credential_id", "resource_owners", ["credential_id"])
    op.create_index("ix_resource_owners_expires_at", "resource_owners", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_resource_owners_expires_at", table_name="resource_owners")
    op.drop_index("ix_resource_owners_credential_id", table_name="resource_owners")
    op.drop_table("resource_owners")
