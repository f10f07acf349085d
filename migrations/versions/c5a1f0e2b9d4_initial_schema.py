"""Initial schema: sessions and their per-minute aggregates.

Revision ID: c5a1f0e2b9d4
Revises:
Create Date: 2026-11-22 03:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c5a1f0e2b9d4"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from engage.emotions: a revision must not change when the code does.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("media_duration_s", sa.Float(), nullable=True),
        sa.Column("sample_fps", sa.Float(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index("ix_sessions_content_hash", "sessions", ["content_hash"])
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])

    op.create_table(
        "minutes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("frames_sampled", sa.Integer(), nullable=False),
        sa.Column("frames_expected", sa.Integer(), nullable=False),
        sa.Column("faces_total", sa.Integer(), nullable=False),
        sa.Column("faces_mean", sa.Float(), nullable=False),
        sa.Column("faces_max", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        *[sa.Column(f"p_{e}", sa.Float(), nullable=True) for e in EMOTIONS],
        *[sa.Column(f"top_{e}", sa.Float(), nullable=True) for e in EMOTIONS],
        sa.Column("dominant_emotion", sa.String(length=16), nullable=True),
        sa.Column("valence", sa.Float(), nullable=True),
        sa.Column("engagement", sa.Float(), nullable=True),
        sa.Column("engagement_high", sa.Float(), nullable=True),
        sa.Column("engagement_nominal", sa.Float(), nullable=True),
        sa.Column("engagement_low", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_minutes_session_id_sessions", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_minutes"),
        sa.UniqueConstraint("session_id", "minute", name="uq_minutes_session_id_minute"),
    )
    op.create_index("ix_minutes_session_id", "minutes", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_minutes_session_id", table_name="minutes")
    op.drop_table("minutes")
    op.drop_index("ix_sessions_started_at", table_name="sessions")
    op.drop_index("ix_sessions_content_hash", table_name="sessions")
    op.drop_table("sessions")
