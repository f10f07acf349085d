"""Minutes: the 90% interval of the engagement index, and emotion shares corrected for the model's confusions
with their 90% intervals (engage.minutes.shares).

Only nullable columns are added, so every minute stored before keeps its figures and has NULL in the new
ones (nothing measured them). Downgrading drops the new columns and keeps the minutes.

Revision ID: f3b7c1d9a2e4
Revises: a3f7c9e2d5b1
Create Date: 2026-12-05 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f3b7c1d9a2e4"
down_revision: str | None = "a3f7c9e2d5b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out: a revision must not follow the code's later emotion list.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
COLUMNS = (
    "engagement_low90",
    "engagement_high90",
    *(f"corrected_{e}{suffix}" for e in EMOTIONS for suffix in ("", "_low90", "_high90")),
)


def upgrade() -> None:
    # SQLite adds columns in place (ALTER TABLE ADD COLUMN): no copy of the table, nothing cascades.
    with op.batch_alter_table("minutes") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    # On SQLite this copies `minutes`; Store migrates with foreign keys off, and the rows are copied over.
    with op.batch_alter_table("minutes") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
