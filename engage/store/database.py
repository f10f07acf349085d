"""The Store: sessions and their per-minute aggregates in SQLite (or any SQLAlchemy URL), and its outbox.

The Store is the only place that issues SQL (with engage.store.outbox and engage.store.overview, whose
functions it calls). The tables are in engage.store.schema; the engine, errors and schema revisions in
engage.store.engine. Opening a Store upgrades the schema (Alembic, migrations/).
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from engage.config import redact
from engage.emotions import EMOTIONS
from engage.errors import EngageError, NotFound, SessionNotFound
from engage.minutes.metrics import MEAN_PREFIX, ROW_COLUMNS, SHARE_PREFIX, MinuteMetrics
from engage.safetext import valid_unicode
from engage.store import outbox
from engage.store.engine import DEFAULT_BUSY_TIMEOUT_S, Database, translated
from engage.store.outbox import OutboxItem, OutboxSession
from engage.store.overview import SessionSummary, summarise
from engage.store.schema import FINAL_STATUSES, KINDS, MinuteRow, SessionInfo, SessionRow, one_line, utcnow
from engage.store.urls import read_only_sqlite_url, resolve_url, sqlite_file

PROCESS_START_SLACK_S = 1.0  # process start times are estimates (boot time + clock ticks)


# The minutes table keeps its original names: emotion columns p_*/top_* for the row's mean_*/share_*, and
# the 0-based minute index (the row's `minute` is 1-based). Renaming them would need a migration for nothing.
DB_COLUMN: dict[str, str] = {
    **{MEAN_PREFIX + e: f"p_{e}" for e in EMOTIONS},
    **{SHARE_PREFIX + e: f"top_{e}" for e in EMOTIONS},
}
ROW_COLUMN: dict[str, str] = {db: row for row, db in DB_COLUMN.items()}
minutes_table = MinuteRow.__table__
assert all(DB_COLUMN.get(c, c) in minutes_table.c for c in ROW_COLUMNS), "MinuteMetrics row and table differ"


# ------------------------------------------------------------------------------------ row mapping


def _float_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def minute_db_values(session_id: int, m: MinuteMetrics) -> dict[str, Any]:
    """The `minutes` column values of one minute: its flat row under the table's column names."""
    values = {DB_COLUMN.get(k, k): v for k, v in m.to_row().items()}
    values["minute"] = int(m.minute)
    values["session_id"] = session_id
    return values


def _minute_from_db(row: Mapping[str, Any]) -> MinuteMetrics:
    """The MinuteMetrics of one `minutes` row (a mapping of column name to value)."""
    flat = {ROW_COLUMN.get(k, k): v for k, v in row.items()}
    flat["minute"] = row["minute"] + 1
    return MinuteMetrics.from_row(flat)


MAX_ID = 2**63 - 1  # the largest INTEGER SQLite (and BIGINT elsewhere) holds


def _session_id(ref: int | str) -> int | None:
    """The id a reference names: an int, or a string of ASCII digits ("²" is a digit to Python, not an id)."""
    if isinstance(ref, str):
        text = ref.strip()
        if not (text.isascii() and text.isdigit()):
            return None
        ref = int(text)
    return ref if 0 <= ref <= MAX_ID else None


def _interrupted_detail(row: SessionRow) -> str:
    return f"process {row.pid} on {row.host} ended before the session finished"


def _process_alive_since(pid: int, since: datetime | None) -> bool:
    """Whether process ``pid`` still runs and is the one that started at or before ``since`` (if known).

    A process that started after ``since`` got the pid when the original one had exited: pids are reused.
    """
    if pid == os.getpid():
        return True
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # it exists, owned by someone else
        return True
    return since is None or started <= since.timestamp() + PROCESS_START_SLACK_S


# -------------------------------------------------------------------------------------------- store


class Store(Database):
    """Sessions and per-minute aggregates in a database whose schema is kept at the newest revision."""

    def __init__(
        self, url: str | Path | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S, upgrade: bool = True
    ) -> None:
        """Open (creating if needed) the database at `url` (see resolve_url) and upgrade its schema to head."""
        super().__init__(url, busy_timeout=busy_timeout)
        if upgrade:
            self.upgrade()

    # -- writing

    @translated
    def create_session(
        self,
        name: str,
        source: str,
        kind: str,
        sample_fps: float,
        model: str,
        config: Mapping[str, Any],
        content_hash: str | None = None,
        started_at: datetime | None = None,
    ) -> int:
        """Start a session (status "running", owned by this process) and return its id."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        row = SessionRow(
            name=valid_unicode(name),
            source=valid_unicode(str(source)),
            kind=kind,
            content_hash=content_hash,
            started_at=started_at or utcnow(),
            status="running",
            sample_fps=float(sample_fps),
            model=model,
            config_json=json.dumps(redact(config), sort_keys=True, default=str),  # never a secret, whoever calls
            pid=os.getpid(),
            host=socket.gethostname(),
            created_at=utcnow(),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    @translated
    def add_minute(self, session_id: int, m: MinuteMetrics) -> None:
        """Store one finished minute and commit at once; a minute stored before is replaced."""
        values = minute_db_values(session_id, m)
        dialect = self.engine.dialect.name
        with Session(self.engine) as session, session.begin():
            if session.get(SessionRow, session_id) is None:
                raise SessionNotFound(f"no session {session_id}")
            if dialect in ("sqlite", "postgresql"):
                if dialect == "sqlite":
                    from sqlalchemy.dialects.sqlite import insert
                else:
                    from sqlalchemy.dialects.postgresql import insert
                statement = insert(minutes_table).values(values)
                keys = ("session_id", "minute")
                statement = statement.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={k: statement.excluded[k] for k in values if k not in keys},
                )
                session.execute(statement)
            else:
                session.execute(
                    delete(minutes_table).where(
                        minutes_table.c.session_id == session_id, minutes_table.c.minute == values["minute"]
                    )
                )
                session.execute(minutes_table.insert().values(values))
            outbox.enqueue(session, session_id, values["minute"])

    @translated
    def finish_session(
        self,
        session_id: int,
        status: str,
        detail: str | None = None,
        media_duration_s: float | None = None,
        ended_at: datetime | None = None,
    ) -> None:
        """Close a session: completed, partial, failed or interrupted, with a one-line reason for the latter."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {FINAL_STATUSES}, not {status!r}")
        values: dict[str, Any] = {
            "status": status,
            "status_detail": one_line(detail),
            "ended_at": ended_at or utcnow(),
        }
        if media_duration_s is not None:
            values["media_duration_s"] = float(media_duration_s)
        with Session(self.engine) as session, session.begin():
            result = session.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))
            if result.rowcount == 0:
                raise SessionNotFound(f"no session {session_id}")
            outbox.enqueue(session, session_id, None)

    @translated
    def delete_session(self, ref: int | str) -> None:
        """Delete a session (by id or name, as get_session) and, by cascade, its minutes."""
        info = self.get_session(ref)
        with Session(self.engine) as session, session.begin():
            session.execute(delete(SessionRow).where(SessionRow.id == info.id))

    @translated
    def purge(self, retention_days: int, now: datetime | None = None) -> int:
        """Delete sessions started more than `retention_days` ago (with their minutes); returns how many.

        0 keeps everything (as privacy.retention_days: 0 does). Sessions still running in a live process are kept.
        """
        if retention_days < 0:
            raise EngageError(f"retention must be 0 (keep all) or a number of days, not {retention_days}")
        if retention_days == 0:
            return 0
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        with Session(self.engine) as session, session.begin():
            rows = session.scalars(select(SessionRow).where(SessionRow.started_at < cutoff)).all()
            doomed = [r.id for r in rows if r.status != "running" or self._stale(r)]
            if doomed:
                session.execute(delete(SessionRow).where(SessionRow.id.in_(doomed)))
            return len(doomed)

    @staticmethod
    def _stale(row: SessionRow) -> bool:
        """A running session whose process is gone from this host (another host's cannot be checked)."""
        if row.host is not None and row.host != socket.gethostname():
            return False
        return row.pid is None or not _process_alive_since(row.pid, row.created_at)

    @translated
    def mark_interrupted(self, session_ids: Iterable[int] | None = None) -> int:
        """Mark "running" sessions whose process is gone as "interrupted" (only those in session_ids if given).

        Returns how many were marked. Their minutes so far stay; ended_at stays unknown (None).
        """
        with Session(self.engine) as session, session.begin():
            query = select(SessionRow).where(SessionRow.status == "running")
            if session_ids is not None:
                query = query.where(SessionRow.id.in_(list(session_ids)))
            stale = [r for r in session.scalars(query) if self._stale(r)]
            for row in stale:
                row.status = "interrupted"
                row.status_detail = _interrupted_detail(row)
                outbox.enqueue(session, row.id, None)
            return len(stale)

    # -- reading

    def _minute_counts(self) -> Any:
        return (
            select(minutes_table.c.session_id, func.count().label("n")).group_by(minutes_table.c.session_id).subquery()
        )

    def _infos(self, session: Session, *where: Any, limit: int | None = None) -> list[SessionInfo]:
        counts = self._minute_counts()
        query = (
            select(SessionRow, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .where(*where)
            .order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
            .limit(limit)
        )
        return [self._as_seen_now(SessionInfo.from_row(row, n), row) for row, n in session.execute(query)]

    def _as_seen_now(self, info: SessionInfo, row: SessionRow) -> SessionInfo:
        """A running session whose process is gone reads as interrupted, before any command records it so
        (reading never writes: the next command that writes marks it)."""
        if row.status == "running" and self._stale(row):
            return replace(info, status="interrupted", status_detail=_interrupted_detail(row))
        return info

    @translated
    def get_session(self, ref: int | str) -> SessionInfo:
        """A session by id, or by exact name (the most recent of that name); a digit string tries the id first."""
        number = _session_id(ref)
        with Session(self.engine) as session:
            found: list[SessionInfo] = []
            if number is not None:
                found = self._infos(session, SessionRow.id == number)
            if not found and isinstance(ref, str):
                found = self._infos(session, SessionRow.name == valid_unicode(ref), limit=1)
        if not found:
            raise SessionNotFound(f"no session '{ref}'")
        return found[0]

    @translated
    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, newest first, each with its count of stored minutes."""
        with Session(self.engine) as session:
            return self._infos(session)

    @translated
    def find_by_hash(self, content_hash: str) -> SessionInfo | None:
        """The most recent session of the media with this content hash, if any."""
        with Session(self.engine) as session:
            found = self._infos(session, SessionRow.content_hash == content_hash, limit=1)
        return found[0] if found else None

    @translated
    def sessions_of_media(self, content_hash: str, status: str | None = None) -> list[SessionInfo]:
        """The sessions of the media with this content hash, newest first; with `status`, only those stored with
        it (a running session whose process is gone still reads as interrupted)."""
        where = [SessionRow.content_hash == content_hash]
        if status is not None:
            where.append(SessionRow.status == status)
        with Session(self.engine) as session:
            return self._infos(session, *where)

    @translated
    def minutes(self, session_id: int) -> list[MinuteMetrics]:
        """A session's minutes in order (empty for an unknown session)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(minutes_table).where(minutes_table.c.session_id == session_id).order_by(minutes_table.c.minute)
            )
            return [_minute_from_db(row._mapping) for row in rows]

    @translated
    def overview(self, buckets: int = 12) -> list[SessionSummary]:
        """Every session with its per-minute figures summed up, newest first, in two queries (no N+1).

        Each summary carries an engagement sparkline: the session cut into `buckets` equal parts of its
        stored minutes (fewer for a shorter session), each the face-weighted mean engagement of the part
        (None where every minute of the part was suppressed).
        """
        with self.engine.connect() as connection:
            return summarise(connection, buckets)

    # -- outbox (engage.store.outbox)

    @translated
    def subscribe(self, consumer: str) -> bool:
        """Queue every later minute and session change for `consumer` (kept in the database); False if it was."""
        with Session(self.engine) as session, session.begin():
            return outbox.subscribe(session, consumer)

    @translated
    def subscribers(self) -> list[str]:
        """The consumers every write queues for."""
        with self.engine.connect() as connection:
            return outbox.subscribers(connection)

    @translated
    def outbox_pending(
        self, consumer: str, limit: int | None = None, session_ids: Iterable[int] | None = None
    ) -> list[OutboxItem]:
        """The consumer's queued rows, oldest first (at most `limit`; only these sessions when given)."""
        with self.engine.connect() as connection:
            return outbox.pending(connection, consumer, limit, session_ids)

    @translated
    def outbox_done(self, ids: Sequence[int]) -> None:
        """Forget rows their consumer now has (rows queued again meanwhile have newer ids and stay)."""
        with self.engine.begin() as connection:
            outbox.done(connection, ids)

    @translated
    def outbox_failed(self, ids: Sequence[int], error: str) -> None:
        """Keep the rows and remember the attempt and its one-line reason."""
        with self.engine.begin() as connection:
            outbox.failed(connection, ids, error)

    @translated
    def outbox_queue_session(self, consumer: str, session_id: int) -> int:
        """Queue a whole session for one consumer: every stored minute not waiting already, and the session."""
        m = minutes_table.c
        with Session(self.engine) as session, session.begin():
            stored = session.scalars(select(m.minute).where(m.session_id == session_id).order_by(m.minute)).all()
            return outbox.queue_session(session, consumer, session_id, stored)

    @translated
    def outbox_status(self, consumer: str) -> list[OutboxSession]:
        """Per session with anything queued for the consumer: how many minutes, since when, the last failure."""
        with self.engine.connect() as connection:
            return outbox.status(connection, consumer)


def open_store_read_only(url_or_path: str | Path | None = None, *, busy_timeout: float = 1.0) -> Store:
    """Open an existing store for reading only: never creates, migrates or writes anything.

    A SQLite file is opened with mode=ro (a write fails with "database is read-only"; see read_only_sqlite_url); a
    missing file is an EngageError, not a new empty database. Other databases are opened as given, without migrating.
    """
    url = resolve_url(url_or_path)
    path = sqlite_file(url)
    if path is not None:
        if not path.is_file():
            raise NotFound(f"no database at {path}")
        url = read_only_sqlite_url(path)
    store = Store(url.render_as_string(hide_password=False), busy_timeout=busy_timeout, upgrade=False)
    if path is not None:
        store.location = str(path)
    return store


def open_store(url_or_path: str | Path | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> Store:
    """Open the store: None -> data_dir()/engage.db, a path -> that SQLite file, else a SQLAlchemy URL."""
    return Store(url_or_path, busy_timeout=busy_timeout)
