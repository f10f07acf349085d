"""Google Sheets outbox: one row per minute (or session summary) not yet mirrored to the spreadsheet.

Revision ID: d4e8a2c61f35
Revises: 7b3e9d14a2f6
Create Date: 2026-11-22 08:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4e8a2c61f35"
down_revision: str | None = "7b3e9d14a2f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Minutes stored before this revision are not queued: a first mirror must not push years of history.
    # `engage export sheets SESSION` exports any old session on demand.
    op.create_table(
        "sheets_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_sheets_outbox_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sheets_outbox"),
    )
    op.create_index("ix_sheets_outbox_session_id", "sheets_outbox", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_sheets_outbox_session_id", table_name="sheets_outbox")
    op.drop_table("sheets_outbox")
