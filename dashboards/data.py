"""Read-only access to the engage database for the dashboard, with the empty states it can be in."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from engage.config import Config
from engage.errors import EngageError
from engage.store.database import Store, open_store_read_only
from engage.store.urls import resolve_url, sqlite_file


@dataclass
class Unavailable:
    """Why there is nothing to show, and what the instructor can do about it."""

    title: str
    advice: str


class DataSource:
    """The database the dashboard reads; opened lazily (it may not exist yet) and only ever for reading."""

    def __init__(self, db: str | Path | None, config: Config) -> None:
        self.config = config
        self.db = db if db is not None else config.database
        self.url = resolve_url(self.db)
        self.path = sqlite_file(self.url)
        self.location = str(self.path) if self.path else self.url.render_as_string(hide_password=True)
        self._store: Store | None = None
        self._lock = threading.Lock()

    def store(self) -> Store | Unavailable:
        """The open store, or why it cannot be read (checked on every call: a database may appear later)."""
        if self.path is not None and not self.path.is_file():
            return Unavailable(
                "No database yet",
                f"Nothing has been recorded to {self.location}. Analyse a lecture with "
                "`engage analyze lecture.mp4` (or try `engage demo`), then reload this page.",
            )
        with self._lock:
            if self._store is None:
                try:
                    self._store = open_store_read_only(self.db)
                except EngageError as exc:
                    return Unavailable("Cannot open the database", f"{exc}.")
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
