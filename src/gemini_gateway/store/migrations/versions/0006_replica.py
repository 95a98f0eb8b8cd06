"""replica: which gateway process served each recorded exchange

Revision ID: 0006_replica
Revises: 0005_credential_names
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_replica"
down_revision = "0005_credential_names"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exchanges") as batch:
        batch.add_column(sa.Column("replica", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exchanges") as batch:
        batch.drop_column("replica")
