"""The database under a Store: its engine (SQLite pragmas), its schema revision, and one-line errors."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import StaticPool

from engage.errors import DatabaseUnavailable
from engage.paths import MIGRATIONS_DIR
from engage.store.urls import is_memory, resolve_url, sqlite_file

DEFAULT_BUSY_TIMEOUT_S = 5.0

# Alembic keeps its migration context in module globals: one migration at a time per process.
MIGRATION_LOCK = threading.RLock()

P = ParamSpec("P")
R = TypeVar("R")


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


def set_wal(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode.lower() not in ("wal", "memory"):
            cursor.execute("PRAGMA journal_mode=WAL")
    except Exception:  # WAL is an optimisation; a read-only, locked or broken file fails later, clearly
        pass
    finally:
        cursor.close()


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Turn database failures the user can fix (read-only, locked, not a database) into one-line EngageErrors."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        database = args[0]
        assert isinstance(database, Database)
        try:
            return method(*args, **kwargs)
        except sa_exc.DBAPIError as exc:
            error = database.database_error(exc)
            if error is None:
                raise
            raise error from exc
        except UnicodeDecodeError as exc:  # SQLite handed back text that is not UTF-8: the file was damaged
            raise DatabaseUnavailable(
                f"database file is damaged (text that is not UTF-8): {database.location}"
            ) from exc
        except UnicodeError as exc:  # a server address that is no host name (IDNA encoding failed)
            raise DatabaseUnavailable(f"bad database address {database.location}: {exc}") from exc

    return wrapper


class Database:
    """A database at a URL, with its engine and schema revision; the Store builds on it."""

    def __init__(self, url: str | Path | None = None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> None:
        """Connect to the database at `url` (see resolve_url), creating a default or plain path's folder."""
        self.url = resolve_url(url)
        self.busy_timeout = busy_timeout
        self.path = sqlite_file(self.url)
        self.location = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        if self.path is not None and (url is None or "://" not in str(url)):
            # A default or plain-path database gets its directory made; a URL is taken as given.
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create the database directory {self.path.parent}: {exc.strerror}"
                ) from exc
        self.engine = self._create_engine(foreign_keys=True)

    # -- engines and errors

    def _create_engine(self, *, foreign_keys: bool, migrating: bool = False) -> Engine:
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            kwargs["connect_args"] = {"timeout": self.busy_timeout, "check_same_thread": False}
            if is_memory(self.url):
                kwargs["poolclass"] = StaticPool
        try:
            engine = create_engine(self.url, **kwargs)
        except sa_exc.NoSuchModuleError as exc:
            raise DatabaseUnavailable(f"unknown database type '{self.url.drivername}' in {self.location}") from exc
        except ImportError as exc:
            raise DatabaseUnavailable(
                f"the database driver for '{self.url.drivername}' is not installed ({exc.name or exc}): {self.location}"
            ) from exc
        except (sa_exc.ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
            raise DatabaseUnavailable(f"bad database URL {self.location}: {str(exc).splitlines()[0]}") from exc
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
            set_wal(dbapi_connection)

        if migrating:

            @event.listens_for(engine, "begin")
            def _on_begin(connection: Connection) -> None:
                # IMMEDIATE: take the write lock before reading alembic_version, so two processes opening
                # the same old database migrate one after the other instead of both.
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def database_error(self, exc: sa_exc.DBAPIError) -> DatabaseUnavailable | None:
        """The one-line error for a database failure the user can fix; None for bugs (integrity, programming)."""
        message = str(exc.orig if exc.orig is not None else exc).strip()
        low = message.lower()
        where = self.location
        if "readonly" in low or "read-only" in low:
            return DatabaseUnavailable(f"database is read-only: {where}")
        if "is locked" in low or "database is busy" in low:
            return DatabaseUnavailable(f"database is locked by another process: {where}")
        if "not a database" in low:
            return DatabaseUnavailable(f"not an engage database: {where}")
        if "malformed" in low or "corrupt" in low or "disk i/o error" in low:
            # A damaged file (cut short, overwritten): say so rather than show SQLite's internals.
            return DatabaseUnavailable(f"database file is damaged ({message.splitlines()[0]}): {where}")
        if "unable to open database file" in low and self.path is not None:
            if self.path.is_dir():
                return DatabaseUnavailable(f"not an engage database: {where} (a directory)")
            if self._read_only_on_disk():
                return DatabaseUnavailable(f"database is read-only: {where}")
            if not self.path.parent.exists():
                return DatabaseUnavailable(f"cannot open database: {where} (no such directory)")
            return DatabaseUnavailable(f"cannot open database: {where}")
        if "disk is full" in low or "disk full" in low:
            return DatabaseUnavailable(f"disk is full, cannot write database: {where}")
        if isinstance(exc, sa_exc.OperationalError):
            first = message.splitlines()[0] if message else type(exc.orig).__name__
            return DatabaseUnavailable(f"database error ({where}): {first}")
        return None

    def _read_only_on_disk(self) -> bool:
        assert self.path is not None
        if self.path.exists() and not os.access(self.path, os.W_OK):
            return True
        parent = self.path.parent if str(self.path.parent) else Path(".")
        return parent.exists() and not os.access(parent, os.W_OK)

    def close(self) -> None:
        """Release all connections (the store can still be used; it reconnects)."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # -- schema

    def _alembic_config(self, connection: Connection | None = None) -> Config:
        return alembic_config(self.url, connection)

    def head_revision(self) -> str:
        """The newest schema revision this version of engage knows."""
        with MIGRATION_LOCK:
            head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None, "migrations/versions is empty"
        return head

    @translated
    def current_revision(self) -> str | None:
        """The database's schema revision; None for a new, empty database."""
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @translated
    def upgrade(self) -> None:
        """Bring the schema to the newest revision (nothing to do, and no write, when it is there already).

        A damaged SQLite file is refused first: SQLite notices some damage only when a write reaches it (a
        broken list of free pages, say), and writing on would add to the damage what it records.
        """
        self._check_intact()
        with MIGRATION_LOCK:
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
                    raise DatabaseUnavailable(f"not an engage database: {self.location}")
            else:
                try:
                    script.get_revision(current)
                except CommandError as exc:
                    raise DatabaseUnavailable(
                        f"database schema {current} is newer than this engage knows (upgrade engage): {self.location}"
                    ) from exc
            self._migrate(command.upgrade, "head")

    def _check_intact(self) -> None:
        """Raise DatabaseUnavailable if SQLite's quick check finds the file damaged (one pass over its pages)."""
        if self.path is None or not self.path.is_file() or self.path.stat().st_size == 0:
            return
        with self.engine.connect() as connection:
            verdict = str(connection.exec_driver_sql("PRAGMA quick_check(1)").scalar())
        if verdict != "ok":
            problem = " ".join(line for line in verdict.splitlines() if not line.startswith("***")) or verdict
            raise DatabaseUnavailable(
                f"database file is damaged ({problem.strip()}): {self.location}; engage will not write to it "
                "(`sqlite3 FILE .recover` makes a repaired copy)"
            )

    @translated
    def downgrade(self, revision: str) -> None:
        """Take the schema back to `revision` ("base" drops every table); data in dropped columns is lost."""
        try:
            self._migrate(command.downgrade, revision)
        except CommandError as exc:
            raise DatabaseUnavailable(f"cannot downgrade {self.location} to {revision}: {exc}") from exc

    def _migrate(self, step: Callable[[Config, str], None], revision: str) -> None:
        # Migrations run with foreign keys OFF: batch mode on SQLite copies and drops tables, and dropping
        # `sessions` with foreign keys on would cascade-delete every minute. In-memory databases are fresh
        # and live on the one connection, so they migrate there.
        engine = self.engine if is_memory(self.url) else self._create_engine(foreign_keys=False, migrating=True)
        try:
            with MIGRATION_LOCK, engine.connect() as connection:
                step(self._alembic_config(connection), revision)
                connection.commit()
        finally:
            if engine is not self.engine:
                engine.dispose()
