"""Where per-minute aggregates live: sessions and their minutes in SQLite (or any SQLAlchemy URL).

Only aggregates are stored (see engage.minutes.metrics); there is no column for images, crops, embeddings
or identities. The schema is managed by Alembic (migrations/), and opening a Store upgrades it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import psutil
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    case,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.paths import MIGRATIONS_DIR, data_dir

KINDS: tuple[str, ...] = ("video", "images", "camera", "stream", "file-realtime")  # the last: `record --source FILE`
STATUSES: tuple[str, ...] = ("running", "completed", "partial", "failed", "interrupted")
FINAL_STATUSES: tuple[str, ...] = STATUSES[1:]
DEFAULT_BUSY_TIMEOUT_S = 5.0
DB_FILENAME = "engage.db"
PROCESS_START_SLACK_S = 1.0  # process start times are estimates (boot time + clock ticks)

# Alembic keeps its migration context in module globals: one migration at a time per process.
_MIGRATION_LOCK = threading.RLock()

P = ParamSpec("P")
R = TypeVar("R")


# --------------------------------------------------------------------------------------------- schema


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        # A naive value is taken as local time (what datetime.now() gives), as Python's astimezone() does.
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    # Named constraints, so Alembic's SQLite batch mode can find and alter them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SessionRow(Base):
    """One analysed video, image set, camera or stream session."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, index=True)
    source: Mapped[str] = mapped_column(String)  # path, URL or "camera:0"
    kind: Mapped[str] = mapped_column(String(16))
    content_hash: Mapped[str | None] = mapped_column(String, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_detail: Mapped[str | None] = mapped_column(Text)
    media_duration_s: Mapped[float | None] = mapped_column(Float)
    sample_fps: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String)
    config_json: Mapped[str] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)  # the process writing the session, to detect interruption
    host: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MinuteRow(Base):
    """The aggregates of one minute of a session (engage.minutes.metrics.MinuteMetrics)."""

    __tablename__ = "minutes"
    __table_args__ = (UniqueConstraint("session_id", "minute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    minute: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    frames_sampled: Mapped[int] = mapped_column(Integer)
    frames_expected: Mapped[int] = mapped_column(Integer)
    faces_total: Mapped[int] = mapped_column(Integer)
    faces_mean: Mapped[float] = mapped_column(Float)
    faces_max: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    # Mean probability per emotion over the minute's faces (None when suppressed).
    p_angry: Mapped[float | None] = mapped_column(Float)
    p_disgust: Mapped[float | None] = mapped_column(Float)
    p_fear: Mapped[float | None] = mapped_column(Float)
    p_happy: Mapped[float | None] = mapped_column(Float)
    p_sad: Mapped[float | None] = mapped_column(Float)
    p_surprise: Mapped[float | None] = mapped_column(Float)
    p_neutral: Mapped[float | None] = mapped_column(Float)
    # Share of the minute's faces whose top label is the emotion (None when suppressed).
    top_angry: Mapped[float | None] = mapped_column(Float)
    top_disgust: Mapped[float | None] = mapped_column(Float)
    top_fear: Mapped[float | None] = mapped_column(Float)
    top_happy: Mapped[float | None] = mapped_column(Float)
    top_sad: Mapped[float | None] = mapped_column(Float)
    top_surprise: Mapped[float | None] = mapped_column(Float)
    top_neutral: Mapped[float | None] = mapped_column(Float)
    dominant_emotion: Mapped[str | None] = mapped_column(String(16))
    valence: Mapped[float | None] = mapped_column(Float)
    engagement: Mapped[float | None] = mapped_column(Float)
    engagement_high: Mapped[float | None] = mapped_column(Float)
    engagement_nominal: Mapped[float | None] = mapped_column(Float)
    engagement_low: Mapped[float | None] = mapped_column(Float)


class SheetsOutboxRow(Base):
    """A minute (or, with minute None, a session's summary) not yet mirrored to Google Sheets (engage.sheets.mirror).

    Written in the same transaction as the minute itself, so a crash never loses a pending mark; deleted
    once the spreadsheet holds the row. A minute rewritten while being mirrored gets a newer row.
    """

    __tablename__ = "sheets_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    minute: Mapped[int | None] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


sheets_outbox_table = SheetsOutboxRow.__table__


def _queue_for_sheets(session: Session, session_id: int, minute: int | None) -> None:
    """Mark a minute (None: the session summary) pending for the Sheets mirror, inside the caller's transaction.

    Every Store method that writes minutes or changes a session must call this in its own transaction.
    """
    session.execute(
        sheets_outbox_table.insert().values(session_id=session_id, minute=minute, queued_at=utcnow(), attempts=0)
    )


MEAN_COLUMNS: dict[str, str] = {e: f"p_{e}" for e in EMOTIONS}
TOP_COLUMNS: dict[str, str] = {e: f"top_{e}" for e in EMOTIONS}
minutes_table = MinuteRow.__table__
assert all(c in minutes_table.c for c in (*MEAN_COLUMNS.values(), *TOP_COLUMNS.values())), "EMOTIONS changed"


# ------------------------------------------------------------------------------------ row mapping


def _float_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def minute_to_row(session_id: int, m: MinuteMetrics) -> dict[str, Any]:
    """The `minutes` column values for one MinuteMetrics (emotion dicts become p_*/top_* columns)."""
    row: dict[str, Any] = {
        "session_id": session_id,
        "minute": int(m.minute),
        "start_s": float(m.start_s),
        "end_s": float(m.end_s),
        "frames_sampled": int(m.frames_sampled),
        "frames_expected": int(m.frames_expected),
        "faces_total": int(m.faces_total),
        "faces_mean": float(m.faces_mean),
        "faces_max": int(m.faces_max),
        "suppressed": bool(m.suppressed),
        "dominant_emotion": m.dominant_emotion,
        "valence": _float_or_none(m.valence),
        "engagement": _float_or_none(m.engagement),
        "engagement_high": _float_or_none(m.engagement_high),
        "engagement_nominal": _float_or_none(m.engagement_nominal),
        "engagement_low": _float_or_none(m.engagement_low),
    }
    for values, columns in ((m.emotion_mean, MEAN_COLUMNS), (m.emotion_top_share, TOP_COLUMNS)):
        unknown = set(values or {}) - set(columns)
        if unknown:
            raise ValueError(f"unknown emotion(s) {sorted(unknown)}; expected keys from {EMOTIONS}")
        for emotion, column in columns.items():
            row[column] = _float_or_none((values or {}).get(emotion))
    return row


def row_to_minute(row: Mapping[str, Any]) -> MinuteMetrics:
    """The MinuteMetrics for one `minutes` row (a mapping of column name to value)."""

    def emotions(columns: Mapping[str, str]) -> dict[str, float] | None:
        values = {e: row[c] for e, c in columns.items()}
        return None if all(v is None for v in values.values()) else values

    return MinuteMetrics(
        minute=row["minute"],
        start_s=row["start_s"],
        end_s=row["end_s"],
        frames_sampled=row["frames_sampled"],
        frames_expected=row["frames_expected"],
        faces_total=row["faces_total"],
        faces_mean=row["faces_mean"],
        faces_max=row["faces_max"],
        suppressed=bool(row["suppressed"]),
        emotion_mean=emotions(MEAN_COLUMNS),
        emotion_top_share=emotions(TOP_COLUMNS),
        dominant_emotion=row["dominant_emotion"],
        valence=row["valence"],
        engagement=row["engagement"],
        engagement_high=row["engagement_high"],
        engagement_nominal=row["engagement_nominal"],
        engagement_low=row["engagement_low"],
    )


def minute_to_dict(m: MinuteMetrics) -> dict[str, Any]:
    """A JSON-ready dict of one minute (non-finite floats become None)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, float):
            return _float_or_none(value)
        return value

    return {k: clean(v) for k, v in asdict(m).items()}


@dataclass
class SessionInfo:
    """One session as the CLI, dashboard and pipeline see it."""

    id: int
    name: str
    source: str
    kind: str
    status: str
    status_detail: str | None
    started_at: datetime
    ended_at: datetime | None
    media_duration_s: float | None
    sample_fps: float
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
    minutes: int = 0  # how many minutes are stored

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; timestamps as ISO 8601 with a UTC offset."""
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return d


def _session_info(row: SessionRow, minutes: int) -> SessionInfo:
    try:
        config = json.loads(row.config_json or "{}")
    except ValueError:
        config = {}
    return SessionInfo(
        id=row.id,
        name=row.name,
        source=row.source,
        kind=row.kind,
        status=row.status,
        status_detail=row.status_detail,
        started_at=row.started_at,
        ended_at=row.ended_at,
        media_duration_s=row.media_duration_s,
        sample_fps=row.sample_fps,
        model=row.model,
        config=config if isinstance(config, dict) else {"value": config},
        content_hash=row.content_hash,
        minutes=minutes,
    )


# ------------------------------------------------------------------------------------------ helpers


def resolve_url(url_or_path: str | Path | None) -> URL:
    """None -> data_dir()/engage.db; a plain path -> that SQLite file; anything with '://' -> a SQLAlchemy URL."""
    if url_or_path is None:
        return URL.create("sqlite", database=str(data_dir() / DB_FILENAME))
    if isinstance(url_or_path, str) and "://" in url_or_path:
        try:
            return make_url(url_or_path)
        except sa_exc.ArgumentError as exc:
            raise EngageError(f"not a database URL: {url_or_path}") from exc
    if str(url_or_path) == ":memory:":
        return URL.create("sqlite")
    return URL.create("sqlite", database=str(Path(url_or_path).expanduser()))


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL (plain or `file:...?mode=ro&uri=true` form); None for memory/other DBs."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = url.database
    if url.query.get("uri") in ("true", "1", "True"):
        database = database.removeprefix("file:").split("?", 1)[0]
        if not database or database == ":memory:" or "mode=memory" in url.database:
            return None
    return Path(database)


def _is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and _sqlite_file(url) is None


def alembic_config(url: str | URL, connection: Connection | None = None) -> Config:
    """An Alembic Config for migrations/ without an alembic.ini; env.py uses `connection` when given."""
    if isinstance(url, str):
        url = make_url(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%', which URL-encoded passwords contain.
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _set_wal(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode.lower() not in ("wal", "memory"):
            cursor.execute("PRAGMA journal_mode=WAL")
    except Exception:  # WAL is an optimisation; a read-only, locked or broken file fails later, clearly
        pass
    finally:
        cursor.close()


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


def _one_line(text: str | None, limit: int = 500) -> str | None:
    if text is None:
        return None
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    """Turn database failures the user can fix (read-only, locked, not a database) into one-line EngageErrors."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        assert isinstance(store, Store)
        try:
            return method(*args, **kwargs)
        except sa_exc.DBAPIError as exc:
            error = store._engage_error(exc)
            if error is None:
                raise
            raise error from exc

    return wrapper


# -------------------------------------------------------------------------------------------- store


class Store:
    """Sessions and per-minute aggregates in a database whose schema is kept at the newest revision."""

    def __init__(
        self, url: str | Path | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S, upgrade: bool = True
    ) -> None:
        """Open (creating if needed) the database at `url` (see resolve_url) and upgrade its schema to head."""
        self.url = resolve_url(url)
        self.busy_timeout = busy_timeout
        self.path = _sqlite_file(self.url)
        self.location = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        if self.path is not None and (url is None or "://" not in str(url)):
            # A default or plain-path database gets its directory made; a URL is taken as given.
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EngageError(f"cannot create the database directory {self.path.parent}: {exc.strerror}") from exc
        self.engine = self._create_engine(foreign_keys=True)
        if upgrade:
            self.upgrade()

    # -- engines and errors

    def _create_engine(self, *, foreign_keys: bool, migrating: bool = False) -> Engine:
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            kwargs["connect_args"] = {"timeout": self.busy_timeout, "check_same_thread": False}
            if _is_memory(self.url):
                kwargs["poolclass"] = StaticPool
        try:
            engine = create_engine(self.url, **kwargs)
        except sa_exc.NoSuchModuleError as exc:
            raise EngageError(f"unknown database type '{self.url.drivername}' in {self.location}") from exc
        except ImportError as exc:
            raise EngageError(
                f"the database driver for '{self.url.drivername}' is not installed ({exc.name or exc}): {self.location}"
            ) from exc
        except sa_exc.ArgumentError as exc:
            raise EngageError(f"bad database URL {self.location}: {exc}") from exc
        if not self._sqlite:
            return engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            if migrating:
                # Take transactions into our own hands so each migration is atomic (see "begin" below).
                dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.close()
            _set_wal(dbapi_connection)

        if migrating:

            @event.listens_for(engine, "begin")
            def _on_begin(connection: Connection) -> None:
                # IMMEDIATE: take the write lock before reading alembic_version, so two processes opening
                # the same old database migrate one after the other instead of both.
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _engage_error(self, exc: sa_exc.DBAPIError) -> EngageError | None:
        message = str(exc.orig if exc.orig is not None else exc).strip()
        low = message.lower()
        where = self.location
        if "readonly" in low or "read-only" in low:
            return EngageError(f"database is read-only: {where}")
        if "is locked" in low or "database is busy" in low:
            return EngageError(f"database is locked by another process: {where}")
        if "not a database" in low:
            return EngageError(f"not an engage database: {where}")
        if "unable to open database file" in low and self.path is not None:
            if self.path.is_dir():
                return EngageError(f"not an engage database: {where} (a directory)")
            if self._read_only_on_disk():
                return EngageError(f"database is read-only: {where}")
            if not self.path.parent.exists():
                return EngageError(f"cannot open database: {where} (no such directory)")
            return EngageError(f"cannot open database: {where}")
        if "disk is full" in low or "disk full" in low:
            return EngageError(f"disk is full, cannot write database: {where}")
        if isinstance(exc, sa_exc.OperationalError):
            first = message.splitlines()[0] if message else type(exc.orig).__name__
            return EngageError(f"database error ({where}): {first}")
        return None  # integrity and programming errors are bugs: let them show

    def _read_only_on_disk(self) -> bool:
        assert self.path is not None
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return True
        parent = self.path.parent if str(self.path.parent) else Path(".")
        return parent.exists() and not os.access(parent, os.W_OK)

    def close(self) -> None:
        """Release all connections (the store can still be used; it reconnects)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.location!r})"

    # -- schema

    def _alembic_config(self, connection: Connection | None = None) -> Config:
        return alembic_config(self.url, connection)

    def head_revision(self) -> str:
        """The newest schema revision this version of engage knows."""
        with _MIGRATION_LOCK:
            head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None, "migrations/versions is empty"
        return head

    @_translated
    def current_revision(self) -> str | None:
        """The database's schema revision; None for a new, empty database."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @_translated
    def upgrade(self) -> None:
        """Bring the schema to the newest revision (nothing to do, and no write, when it is there already)."""
        with _MIGRATION_LOCK:
            current = self.current_revision()
            script = ScriptDirectory.from_config(self._alembic_config())
            if current == script.get_current_head():
                return
            if current is None:
                with self.engine.connect() as connection:
                    tables = {t for t in inspect(connection).get_table_names() if not t.startswith("sqlite_")}
                # With alembic_version it is ours (emptied by a downgrade to base, or being created by another
                # process right now); without it, anyone else's tables are left alone.
                if tables and "alembic_version" not in tables:
                    raise EngageError(f"not an engage database: {self.location}")
            else:
                try:
                    script.get_revision(current)
                except CommandError as exc:
                    raise EngageError(
                        f"database schema {current} is newer than this engage knows (upgrade engage): {self.location}"
                    ) from exc
            self._migrate(command.upgrade, "head")

    @_translated
    def downgrade(self, revision: str) -> None:
        """Take the schema back to `revision` ("base" drops every table); data in dropped columns is lost."""
        try:
            self._migrate(command.downgrade, revision)
        except CommandError as exc:
            raise EngageError(f"cannot downgrade {self.location} to {revision}: {exc}") from exc

    def _migrate(self, step: Callable[[Config, str], None], revision: str) -> None:
        # Migrations run with foreign keys OFF: batch mode on SQLite copies and drops tables, and dropping
        # `sessions` with foreign keys on would cascade-delete every minute. In-memory databases are fresh
        # and live on the one connection, so they migrate there.
        engine = self.engine if _is_memory(self.url) else self._create_engine(foreign_keys=False, migrating=True)
        try:
            with _MIGRATION_LOCK, engine.connect() as connection:
                step(self._alembic_config(connection), revision)
                connection.commit()
        finally:
            if engine is not self.engine:
                engine.dispose()

    # -- writing

    @_translated
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
            name=name,
            source=str(source),
            kind=kind,
            content_hash=content_hash,
            started_at=started_at or utcnow(),
            status="running",
            sample_fps=float(sample_fps),
            model=model,
            config_json=json.dumps(dict(config), sort_keys=True, default=str),
            pid=os.getpid(),
            host=socket.gethostname(),
            created_at=utcnow(),
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return row.id

    @_translated
    def add_minute(self, session_id: int, m: MinuteMetrics) -> None:
        """Store one finished minute and commit at once; a minute stored before is replaced."""
        values = minute_to_row(session_id, m)
        dialect = self.engine.dialect.name
        with Session(self.engine) as session, session.begin():
            if session.get(SessionRow, session_id) is None:
                raise EngageError(f"no session {session_id}; run `engage sessions` to list them")
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
            _queue_for_sheets(session, session_id, values["minute"])

    @_translated
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
            "status_detail": _one_line(detail),
            "ended_at": ended_at or utcnow(),
        }
        if media_duration_s is not None:
            values["media_duration_s"] = float(media_duration_s)
        with Session(self.engine) as session, session.begin():
            result = session.execute(update(SessionRow).where(SessionRow.id == session_id).values(**values))
            if result.rowcount == 0:
                raise EngageError(f"no session {session_id}; run `engage sessions` to list them")
            _queue_for_sheets(session, session_id, None)

    @_translated
    def delete_session(self, ref: int | str) -> None:
        """Delete a session (by id or name, as get_session) and, by cascade, its minutes."""
        info = self.get_session(ref)
        with Session(self.engine) as session, session.begin():
            session.execute(delete(SessionRow).where(SessionRow.id == info.id))

    @_translated
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

    @_translated
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
                row.status_detail = f"process {row.pid} on {row.host} ended before the session finished"
                _queue_for_sheets(session, row.id, None)
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
        return [_session_info(row, n) for row, n in session.execute(query)]

    @_translated
    def get_session(self, ref: int | str) -> SessionInfo:
        """A session by id, or by exact name (the most recent of that name); a digit string tries the id first."""
        with Session(self.engine) as session:
            found: list[SessionInfo] = []
            if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
                found = self._infos(session, SessionRow.id == int(ref))
            if not found and isinstance(ref, str):
                found = self._infos(session, SessionRow.name == ref, limit=1)
        if not found:
            raise EngageError(f"no session '{ref}'; run `engage sessions` to list them")
        return found[0]

    @_translated
    def list_sessions(self) -> list[SessionInfo]:
        """All sessions, newest first, each with its count of stored minutes."""
        with Session(self.engine) as session:
            return self._infos(session)

    @_translated
    def find_by_hash(self, content_hash: str) -> SessionInfo | None:
        """The most recent session of the media with this content hash, if any."""
        with Session(self.engine) as session:
            found = self._infos(session, SessionRow.content_hash == content_hash, limit=1)
        return found[0] if found else None

    @_translated
    def minutes(self, session_id: int) -> list[MinuteMetrics]:
        """A session's minutes in order (empty for an unknown session)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(minutes_table).where(minutes_table.c.session_id == session_id).order_by(minutes_table.c.minute)
            )
            return [row_to_minute(row._mapping) for row in rows]

    @_translated
    def overview(self, buckets: int = 12) -> list[SessionSummary]:
        """Every session with its per-minute figures summed up, newest first, in two queries (no N+1).

        Each summary carries an engagement sparkline: the session cut into `buckets` equal parts of its
        stored minutes (fewer for a shorter session), each the face-weighted mean engagement of the part
        (None where every minute of the part was suppressed).
        """
        m = minutes_table.c
        has_engagement = m.engagement.is_not(None)
        weighted = func.sum(case((has_engagement, m.engagement * m.faces_total)))
        weight = func.sum(case((has_engagement, m.faces_total)))
        per_session = (
            select(
                m.session_id,
                func.count().label("n"),
                func.max(m.minute).label("last_minute"),
                func.sum(m.faces_total).label("faces_total"),
                func.sum(m.frames_sampled).label("frames"),
                func.max(m.faces_max).label("faces_max"),
                func.sum(case((m.suppressed, 1), else_=0)).label("suppressed"),
                (weighted / func.nullif(weight, 0)).label("engagement"),
            )
            .group_by(m.session_id)
            .subquery()
        )
        sessions = SessionRow.__table__
        wanted = [c for c in sessions.c if c.name not in ("pid", "host", "created_at")]
        query = (  # Core rows, not ORM objects: a thousand sessions load several times faster
            select(*wanted, *[c for c in per_session.c if c.name != "session_id"])
            .outerjoin(per_session, per_session.c.session_id == sessions.c.id)
            .order_by(sessions.c.started_at.desc(), sessions.c.id.desc())
        )
        bucket = ((m.minute * buckets) // (per_session.c.last_minute + 1)).label("bucket")
        spark_query = (
            select(m.session_id, bucket, (weighted / func.nullif(weight, 0)).label("engagement"))
            .join(per_session, per_session.c.session_id == m.session_id)
            .group_by(m.session_id, bucket)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
            parts: dict[int, dict[int, float | None]] = {}
            for session_id, b, value in connection.execute(spark_query).all():
                parts.setdefault(session_id, {})[int(b)] = _float_or_none(value)
        # A session shorter than `buckets` minutes has one part per minute.
        sparks = {sid: [p[b] for b in sorted(p)] for sid, p in parts.items()}
        summaries = []
        for row in rows:
            info = _session_info(row, row.n or 0)  # type: ignore[arg-type]  # a Row has SessionRow's fields
            frames = row.frames or 0
            summaries.append(
                SessionSummary(
                    session=info,
                    last_minute=row.last_minute,
                    faces_total=row.faces_total or 0,
                    faces_mean=(row.faces_total or 0) / frames if frames else None,
                    faces_max=row.faces_max,
                    suppressed_minutes=row.suppressed or 0,
                    mean_engagement=_float_or_none(row.engagement),
                    sparkline=sparks.get(info.id, []),
                )
            )
        return summaries


@dataclass
class SessionSummary:
    """A session with its minutes summed up, for overviews (Store.overview)."""

    session: SessionInfo
    last_minute: int | None  # highest stored minute (0-based); None without minutes
    faces_total: int  # face detections over all minutes
    faces_mean: float | None  # mean faces per sampled frame over the session (the typical class size seen)
    faces_max: int | None
    suppressed_minutes: int  # minutes without emotion figures (privacy.min_faces)
    mean_engagement: float | None  # face-weighted mean engagement of the unsuppressed minutes
    sparkline: list[float | None]  # engagement in equal parts of the session (see Store.overview)


def open_store_read_only(url_or_path: str | Path | None = None, *, busy_timeout: float = 1.0) -> Store:
    """Open an existing store for reading only: never creates, migrates or writes anything.

    A SQLite file is opened with mode=ro (a write fails with "database is read-only"); a missing file is an
    EngageError, not a new empty database. Other databases are opened as given, without migrating.
    """
    url = resolve_url(url_or_path)
    path = _sqlite_file(url)
    if path is not None:
        if not path.is_file():
            raise EngageError(f"no database at {path}")
        url = URL.create("sqlite", database=f"file:{path.resolve()}", query={"mode": "ro", "uri": "true"})
    store = Store(url.render_as_string(hide_password=False), busy_timeout=busy_timeout, upgrade=False)
    if path is not None:
        store.location = str(path)
    return store


def open_store(url_or_path: str | Path | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> Store:
    """Open the store: None -> data_dir()/engage.db, a path -> that SQLite file, else a SQLAlchemy URL."""
    return Store(url_or_path, busy_timeout=busy_timeout)
