"""A generic outbox: `sheets_outbox` becomes `outbox` with a consumer column, and consumers subscribe.

Queued rows are kept, as consumer "sheets" and in their order (their ids are renumbered: ids only name a
row while a consumer holds it). No consumer is subscribed here: the Sheets mirror subscribes itself when a
spreadsheet is configured (engage.sheets.outbox). Downgrading keeps the "sheets" rows and drops the rest.

Revision ID: e9a4c7d2f1b8
Revises: d4e8a2c61f35
Create Date: 2026-12-05 08:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e9a4c7d2f1b8"
down_revision: str | None = "d4e8a2c61f35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What both tables hold besides their id (and the new table's consumer).
COLUMNS = "session_id, minute, queued_at, attempts, last_attempt_at, last_error"


def _queue_table(name: str, *consumer: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        *consumer,
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=f"fk_{name}_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
    )
    op.create_index(f"ix_{name}_session_id", name, ["session_id"])


def upgrade() -> None:
    op.create_table(
        "outbox_consumers",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("subscribed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_outbox_consumers"),
    )
    _queue_table("outbox", sa.Column("consumer", sa.String(length=32), nullable=False))
    op.create_index("ix_outbox_consumer", "outbox", ["consumer"])
    # A new table rather than a renamed one: every backend, constraint names and id sequences stay right.
    op.execute(f"INSERT INTO outbox (consumer, {COLUMNS}) SELECT 'sheets', {COLUMNS} FROM sheets_outbox ORDER BY id")
    op.drop_index("ix_sheets_outbox_session_id", table_name="sheets_outbox")
    op.drop_table("sheets_outbox")


def downgrade() -> None:
    _queue_table("sheets_outbox")
    op.execute(
        f"INSERT INTO sheets_outbox ({COLUMNS}) SELECT {COLUMNS} FROM outbox WHERE consumer = 'sheets' ORDER BY id"
    )
    op.drop_index("ix_outbox_consumer", table_name="outbox")
    op.drop_index("ix_outbox_session_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("outbox_consumers")
