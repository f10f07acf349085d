"""Minutes: head pose and attention (issue 18): people (distinct anonymous face tracks), the shares of face-samples
facing / down / away, the share readable by the expression model, and the expression-only engagement index
(engagement_v1) kept beside the index with attention (engagement).

Only nullable columns are added, so every minute stored before keeps its figures and has NULL in the new
ones (nothing measured them). Downgrading drops the new columns and keeps the minutes.

Revision ID: b8d2e6f4a1c3
Revises: f3b7c1d9a2e4
Create Date: 2026-12-12 10:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b8d2e6f4a1c3"
down_revision: str | None = "f3b7c1d9a2e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out: a revision must not follow the code's later column lists.
COLUMNS: tuple[tuple[str, type[sa.types.TypeEngine]], ...] = (
    ("people", sa.Integer),
    ("attention_facing", sa.Float),
    ("attention_down", sa.Float),
    ("attention_away", sa.Float),
    ("readable_share", sa.Float),
    ("engagement_v1", sa.Float),
)


def upgrade() -> None:
    # SQLite adds columns in place (ALTER TABLE ADD COLUMN): no copy of the table, nothing cascades.
    with op.batch_alter_table("minutes") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    # On SQLite this copies `minutes`; Store migrates with foreign keys off, and the rows are copied over.
    with op.batch_alter_table("minutes") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
