"""Sessions: a one-line status detail, and the pid and host writing them (to detect interrupted runs).

Revision ID: 7b3e9d14a2f6
Revises: c5a1f0e2b9d4
Create Date: 2026-11-22 03:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b3e9d14a2f6"
down_revision: str | None = "c5a1f0e2b9d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("status_detail", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("host", sa.String(), nullable=True))
        batch.create_index("ix_sessions_name", ["name"])
        batch.create_index("ix_sessions_status", ["status"])


def downgrade() -> None:
    # On SQLite this copies `sessions`; Store migrates with foreign keys off so minutes are not cascaded away.
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_status")
        batch.drop_index("ix_sessions_name")
        batch.drop_column("host")
        batch.drop_column("pid")
        batch.drop_column("status_detail")
