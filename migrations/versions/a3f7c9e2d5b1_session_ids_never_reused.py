"""Sessions: an id always means one session (AUTOINCREMENT), and no stored config keeps a secret.

On SQLite a plain INTEGER PRIMARY KEY gives the next session the largest id in use plus one, so deleting the
newest session (`engage purge`, retention) hands its id to the next one: `engage show 7` or a spreadsheet row
for session 7 could then mean another lecture. With AUTOINCREMENT SQLite remembers the highest id ever used
(sqlite_sequence). The table is rebuilt to get it; other databases' sequences never reuse ids.

Sessions stored by earlier versions kept the dashboard password and a database URL's password in config_json:
they are masked as "***" here (engage now leaves them out when it stores a session).

Revision ID: a3f7c9e2d5b1
Revises: e9a4c7d2f1b8
Create Date: 2026-12-05 09:00:00+00:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import context, op

revision: str = "a3f7c9e2d5b1"
down_revision: str | None = "e9a4c7d2f1b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _sessions() -> sa.Table:
    """The sessions table as revision e9a4c7d2f1b8 left it (spelled out: a revision must not follow the code)."""
    return sa.Table(
        "sessions",
        sa.MetaData(),
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
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("host", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.Index("ix_sessions_content_hash", "content_hash"),
        sa.Index("ix_sessions_started_at", "started_at"),
        sa.Index("ix_sessions_name", "name"),
        sa.Index("ix_sessions_status", "status"),
    )


def _rebuild(autoincrement: bool) -> None:
    # Store migrates SQLite with foreign keys off, so dropping the old table does not cascade to minutes.
    with op.batch_alter_table(
        "sessions", recreate="always", copy_from=_sessions(), table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def _mask(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rsplit('@', 1)[1]}"))


def _without_secrets(config_json: str) -> str | None:
    """The stored config with its secrets masked; None when there was nothing to mask."""
    try:
        config = json.loads(config_json)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    changed = False
    dashboard = config.get("dashboard")
    if isinstance(dashboard, dict) and dashboard.get("password") not in (None, "***"):
        dashboard["password"] = "***"
        changed = True
    database = config.get("database")
    if isinstance(database, str) and _mask(database) != database:
        config["database"] = _mask(database)
        changed = True
    return json.dumps(config, sort_keys=True) if changed else None


def _scrub_secrets() -> None:
    if context.is_offline_mode():
        return  # there are no rows to read when only SQL is printed
    sessions = sa.table("sessions", sa.column("id", sa.Integer()), sa.column("config_json", sa.Text()))
    bind = op.get_bind()
    for row_id, config_json in bind.execute(sa.select(sessions.c.id, sessions.c.config_json)).all():
        clean = _without_secrets(config_json or "{}")
        if clean is not None:
            bind.execute(sessions.update().where(sessions.c.id == row_id).values(config_json=clean))


def upgrade() -> None:
    _scrub_secrets()
    if op.get_context().dialect.name == "sqlite":
        _rebuild(autoincrement=True)


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _rebuild(autoincrement=False)  # the masked secrets stay masked
