"""Commands that only read (sessions, show, export, export sheets --status) write nothing, so they work on a
read-only database; the start-up housekeeping (stale runs, retention) is for the commands that write."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minute_samples import sample_minute
from typer.testing import CliRunner

from engage.cli import app
from engage.minutes.metrics import MinuteMetrics
from engage.store import urls
from engage.store.database import open_store

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def minute(k: int) -> MinuteMetrics:
    return sample_minute(k)


@pytest.fixture()
def db(tmp_path: Path, engage_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A database with a finished old session and a running one whose process is gone (a crashed run)."""
    monkeypatch.setenv("ENGAGE_PRIVACY__RETENTION_DAYS", "30")
    path = tmp_path / "engage.db"
    with open_store(path) as store:
        old = store.create_session("old", "/v/old.mp4", "video", 1.0, "m", {}, started_at=_days_ago(200))
        store.add_minute(old, minute(0))
        store.finish_session(old, "completed", media_duration_s=60.0)
        crashed = store.create_session("crashed", "/v/crashed.mp4", "video", 1.0, "m", {})
        store.add_minute(crashed, minute(0))
    with sqlite3.connect(path) as con:
        con.execute("UPDATE sessions SET pid = ? WHERE id = ?", (_exited_pid(), crashed))
    con.close()
    return path


def statuses(path: Path) -> dict[str, str]:
    """The statuses stored in the file (what a reader shows may differ: see read_everything)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        return dict(con.execute("SELECT name, status FROM sessions"))


def read_everything(db: str) -> None:
    listed = json.loads(invoke("sessions", "--db", db, "--json").stdout)
    # A run whose process is gone reads as interrupted at once, though only a writing command records it so.
    assert {s["name"]: s["status"] for s in listed} == {"old": "completed", "crashed": "interrupted"}
    assert json.loads(invoke("show", "crashed", "--db", db, "--json").stdout)["status"] == "interrupted"
    assert json.loads(invoke("export", "old", "--format", "json", "--db", db).stdout)["name"] == "old"
    assert invoke("export", "sheets", "--status", "--json", "--db", db).exit_code == 0


def test_reading_commands_change_nothing_and_writing_ones_do_the_housekeeping(db: Path) -> None:
    before = db.read_bytes()
    read_everything(str(db))
    assert db.read_bytes() == before  # not a byte: no stale run marked, no retention applied
    assert statuses(db) == {"old": "completed", "crashed": "running"}

    assert invoke("purge", "--days", "3650", "--db", str(db)).exit_code == 0  # a command that writes
    assert statuses(db) == {"old": "completed", "crashed": "interrupted"}


def test_reading_commands_work_on_a_read_only_database(db: Path) -> None:
    # mode=ro refuses every write, even for root (file permissions do not stop root).
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    read_everything(read_only)
    assert statuses(db)["crashed"] == "running"


def test_reading_commands_in_a_folder_that_cannot_be_written(db: Path) -> None:
    folder = db.parent
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: permissions do not stop writes (the mode=ro and immutable tests cover this)")
        read_everything(str(db))
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)


def test_a_database_in_a_folder_that_cannot_be_written_is_read_as_immutable(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A WAL database's reader needs to create its -shm file beside it; where it cannot, and no writer is
    # active (no -wal file), the file is opened as immutable. Permissions cannot be taken from root, so the
    # folder is made to look read-only.
    assert "immutable" not in urls.read_only_sqlite_url(db).query
    real_access = os.access
    monkeypatch.setattr(urls.os, "access", lambda p, mode: False if Path(p) == db.parent else real_access(p, mode))
    assert urls.read_only_sqlite_url(db).query["immutable"] == "1"
    read_everything(str(db))
    Path(f"{db}-wal").touch()  # a writer is active: immutable would read stale pages
    assert "immutable" not in urls.read_only_sqlite_url(db).query


def test_listing_a_missing_database_does_not_create_it(tmp_path: Path, engage_home: Path) -> None:
    missing = tmp_path / "missing.db"
    result = invoke("sessions", "--db", str(missing))
    assert result.exit_code == 0 and "engage demo" in result.stderr
    assert not missing.exists()


def _days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
