"""Where the database is: a default file, a plain path, or any SQLAlchemy URL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from engage.errors import DatabaseUnavailable
from engage.paths import data_dir, expand_user
from engage.safetext import mask_password

DB_FILENAME = "engage.db"


def resolve_url(url_or_path: str | Path | None) -> URL:
    """None -> data_dir()/engage.db; a plain path -> that SQLite file; anything with '://' -> a SQLAlchemy URL."""
    if url_or_path is None:
        return URL.create("sqlite", database=str(data_dir() / DB_FILENAME))
    if isinstance(url_or_path, str) and "://" in url_or_path:
        try:
            return make_url(url_or_path)
        except (sa_exc.ArgumentError, ValueError) as exc:
            raise DatabaseUnavailable(f"not a database URL: {mask_password(url_or_path)}") from exc
    if str(url_or_path) == ":memory:":
        return URL.create("sqlite")
    return URL.create("sqlite", database=str(expand_user(url_or_path)))


def sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL (plain or `file:...?mode=ro&uri=true` form); None for memory/other DBs."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = url.database
    if url.query.get("uri") in ("true", "1", "True"):
        database = database.removeprefix("file:").split("?", 1)[0]
        if not database or database == ":memory:" or "mode=memory" in url.database:
            return None
    return Path(database)


def is_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and sqlite_file(url) is None


def read_only_sqlite_url(path: Path) -> URL:
    """A URL that opens the SQLite file `path` for reading only (mode=ro: any write fails).

    A WAL database needs its -shm file to be read, which a reader cannot create in a folder it may not
    write to; there, with no -wal file (so no writer is active), the file is opened as immutable instead.
    """
    query = {"mode": "ro", "uri": "true"}
    folder = path.parent if str(path.parent) else Path(".")
    if not os.access(folder, os.W_OK) and not Path(f"{path}-wal").exists():
        query["immutable"] = "1"
    return URL.create("sqlite", database=f"file:{path.resolve()}", query=query)
