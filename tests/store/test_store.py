"""The Store: sessions and per-minute aggregates in real SQLite files, and its one-line errors."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import Store, open_store
from engage.store.schema import SessionInfo


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "engage.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as s:
        yield s


def make_minute(minute: int, *, suppressed: bool = False, happy: float = 0.5) -> MinuteMetrics:
    if suppressed:
        return MinuteMetrics(minute, minute * 60.0, minute * 60.0 + 59.5, 120, 120, 90, 0.75, 1, True)
    rest = (1.0 - happy) / (len(EMOTIONS) - 1)
    mean = {e: (happy if e == "happy" else rest) for e in EMOTIONS}
    top = {e: (0.8 if e == "happy" else 0.2 if e == "neutral" else 0.0) for e in EMOTIONS}
    return MinuteMetrics(
        minute=minute,
        start_s=minute * 60.0,
        end_s=minute * 60.0 + 59.5,
        frames_sampled=118,
        frames_expected=120,
        faces_total=590,
        faces_mean=5.0,
        faces_max=7,
        suppressed=False,
        emotion_mean=mean,
        emotion_top_share=top,
        dominant_emotion="happy",
        valence=0.25,
        engagement=0.6,
        engagement_high=0.3,
        engagement_nominal=0.5,
        engagement_low=0.2,
        engagement_low90=0.52,
        engagement_high90=0.67,
        emotion_corrected={e: v * 0.9 + 0.1 / 7 for e, v in top.items()},
        emotion_corrected_low90={e: v * 0.5 for e, v in top.items()},
        emotion_corrected_high90={e: min(1.0, v + 0.1) for e, v in top.items()},
    )


def new_session(store: Store, name: str = "lecture", **kwargs: object) -> int:
    args: dict[str, object] = {
        "source": "/videos/lecture.mp4",
        "kind": "video",
        "sample_fps": 2.0,
        "model": "emotion.tflite@1a2b3c4",
        "config": {"privacy": {"min_faces": 3}, "sample_fps": 2.0},
    }
    args.update(kwargs)
    return store.create_session(name, **args)  # type: ignore[arg-type]


def count_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ------------------------------------------------------------------------------------ opening


def test_default_location_is_engage_home(engage_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = engage_home / "nested"  # the directories are made on opening
    monkeypatch.setenv("ENGAGE_HOME", str(home))
    with open_store(None) as store:
        assert store.path == home / "engage.db"
        assert store.current_revision() == store.head_revision()
    assert (home / "engage.db").is_file()


def test_plain_path_url_and_memory(tmp_path: Path) -> None:
    with open_store(tmp_path / "a" / "b.db") as by_path:
        new_session(by_path)
    with open_store(f"sqlite:///{tmp_path / 'a' / 'b.db'}") as by_url:
        assert [s.name for s in by_url.list_sessions()] == ["lecture"]
    with open_store(":memory:") as memory:
        assert memory.get_session(new_session(memory)).name == "lecture"


def test_sqlite_pragmas(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


# ----------------------------------------------------------------------------------- sessions


def test_session_round_trip(store: Store) -> None:
    started = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    sid = new_session(store, content_hash="abc123", started_at=started)
    info = store.get_session(sid)
    assert isinstance(info, SessionInfo)
    assert (info.id, info.name, info.kind, info.status, info.source) == (
        sid,
        "lecture",
        "video",
        "running",
        "/videos/lecture.mp4",
    )
    assert info.started_at == started and info.started_at.tzinfo is not None
    assert info.ended_at is None and info.status_detail is None
    assert info.config == {"privacy": {"min_faces": 3}, "sample_fps": 2.0}
    assert (info.sample_fps, info.model, info.content_hash, info.minutes) == (
        2.0,
        "emotion.tflite@1a2b3c4",
        "abc123",
        0,
    )

    ended = started + timedelta(minutes=50)
    store.finish_session(
        sid, "partial", detail="decode error at 00:41:07\nsecond line", media_duration_s=3000.5, ended_at=ended
    )
    info = store.get_session(sid)
    assert (info.status, info.status_detail, info.media_duration_s, info.ended_at) == (
        "partial",
        "decode error at 00:41:07 second line",
        3000.5,
        ended,
    )
    d = json.loads(json.dumps(info.to_dict()))
    assert d["started_at"] == "2026-03-02T09:00:00+00:00"
    assert d["ended_at"] == "2026-03-02T09:50:00+00:00"
    assert d["config"]["privacy"] == {"min_faces": 3}


def test_naive_datetimes_are_local_time_and_come_back_utc(store: Store) -> None:
    naive = datetime(2026, 3, 2, 9, 0)
    info = store.get_session(new_session(store, started_at=naive))
    assert info.started_at == naive.astimezone(UTC)
    assert info.started_at.utcoffset() == timedelta(0)


def test_bad_kind_and_status_are_programming_errors(store: Store) -> None:
    with pytest.raises(ValueError, match="kind"):
        new_session(store, kind="dvd")
    sid = new_session(store)
    with pytest.raises(ValueError, match="status"):
        store.finish_session(sid, "running")
    with pytest.raises(EngageError, match="no session 999"):
        store.finish_session(999, "completed")


def test_get_session_by_id_name_and_missing(store: Store) -> None:
    old = new_session(store, name="physics", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    new = new_session(store, name="physics", started_at=datetime(2026, 2, 1, tzinfo=UTC))
    other = new_session(store, name="maths")
    assert store.get_session(old).id == old
    assert store.get_session(str(old)).id == old
    assert store.get_session("physics").id == new  # the most recent of that name
    assert store.get_session("maths").id == other
    with pytest.raises(EngageError) as excinfo:
        store.get_session("chemistry")
    assert str(excinfo.value) == "no session 'chemistry'"
    with pytest.raises(EngageError, match="no session '42'"):
        store.get_session(42)


def test_list_sessions_newest_first_with_minute_counts(store: Store) -> None:
    a = new_session(store, name="a", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    b = new_session(store, name="b", started_at=datetime(2026, 1, 3, tzinfo=UTC))
    c = new_session(store, name="c", started_at=datetime(2026, 1, 2, tzinfo=UTC))
    for m in range(3):
        store.add_minute(a, make_minute(m))
    store.add_minute(c, make_minute(0, suppressed=True))
    listed = store.list_sessions()
    assert [(s.id, s.minutes) for s in listed] == [(b, 0), (c, 1), (a, 3)]


def test_find_by_hash_returns_the_latest(store: Store) -> None:
    assert store.find_by_hash("deadbeef") is None
    new_session(store, content_hash="deadbeef", started_at=datetime(2026, 1, 1, tzinfo=UTC))
    latest = new_session(store, content_hash="deadbeef", started_at=datetime(2026, 1, 5, tzinfo=UTC))
    new_session(store, content_hash="other", started_at=datetime(2026, 1, 9, tzinfo=UTC))
    found = store.find_by_hash("deadbeef")
    assert found is not None and found.id == latest


# ------------------------------------------------------------------------------------ minutes


def test_minutes_round_trip_including_suppressed(store: Store) -> None:
    sid = new_session(store)
    written = [make_minute(0), make_minute(1, suppressed=True), make_minute(2, happy=0.9)]
    for m in reversed(written):
        store.add_minute(sid, m)
    read = store.minutes(sid)
    assert read == written  # ordered by minute, every field back as it went in
    suppressed = read[1]
    assert suppressed.suppressed is True
    assert suppressed.emotion_mean is None and suppressed.emotion_top_share is None
    assert suppressed.dominant_emotion is None and suppressed.engagement is None
    assert list(read[0].emotion_mean or {}) == list(EMOTIONS)
    assert json.loads(json.dumps(read[0].to_row()))["mean_happy"] == 0.5
    assert (read[0].engagement_low90, read[0].emotion_corrected_high90["happy"]) == (0.52, 0.9)
    assert suppressed.engagement_low90 is None and suppressed.emotion_corrected is None
    assert store.minutes(12345) == []


def test_head_pose_and_attention_figures_round_trip(store: Store, db_path: Path) -> None:
    sid = new_session(store)
    m = make_minute(0)
    m.people, m.attention_facing, m.attention_down, m.attention_away = 4, 0.625, 0.25, 0.125
    m.readable_share, m.engagement_v1 = 0.8, 0.58
    store.add_minute(sid, m)
    store.add_minute(sid, make_minute(1))  # a minute without them (as from before engage measured head pose)
    first, second = store.minutes(sid)
    assert first == m and isinstance(first.people, int)
    row = first.to_row()
    attention = (row["people"], row["attention_facing"], row["attention_down"], row["attention_away"])
    assert attention == (4, 0.625, 0.25, 0.125)
    assert (row["readable_share"], row["engagement_v1"], row["engagement"]) == (0.8, 0.58, 0.6)
    assert second.people is None and second.attention_facing is None and second.engagement_v1 is None
    with sqlite3.connect(db_path) as con:
        stored = con.execute("SELECT minute, people, attention_away, engagement_v1 FROM minutes ORDER BY minute")
        assert stored.fetchall() == [(0, 4, 0.125, 0.58), (1, None, None, None)]


def test_minutes_table_keeps_its_columns_and_the_zero_based_minute(store: Store, db_path: Path) -> None:
    # The flat row says minute 2 and mean_/share_; the table (no migration) keeps index 1 and p_/top_ columns.
    sid = new_session(store)
    m = make_minute(1, happy=0.7)
    assert m.to_row()["minute"] == 2
    store.add_minute(sid, m)
    with sqlite3.connect(db_path) as con:
        columns = [row[1] for row in con.execute("PRAGMA table_info(minutes)")]
        stored = con.execute("SELECT minute, p_happy, top_happy FROM minutes WHERE session_id = ?", (sid,)).fetchall()
    assert {"minute", "p_happy", "top_neutral"} <= set(columns)
    assert not any(c.startswith(("mean_", "share_")) for c in columns)
    assert stored == [(1, 0.7, 0.8)]
    assert store.minutes(sid) == [m]


def test_add_minute_replaces_the_same_minute(store: Store, db_path: Path) -> None:
    sid = new_session(store)
    store.add_minute(sid, make_minute(0, happy=0.2))
    store.add_minute(sid, make_minute(0, happy=0.7))
    (only,) = store.minutes(sid)
    assert only.emotion_mean is not None and only.emotion_mean["happy"] == 0.7
    store.add_minute(sid, make_minute(0, suppressed=True))
    (only,) = store.minutes(sid)
    assert only.suppressed and only.emotion_mean is None
    assert count_rows(db_path, "minutes") == 1


def test_each_minute_is_visible_to_another_connection_at_once(store: Store, db_path: Path) -> None:
    sid = new_session(store)
    reader = sqlite3.connect(db_path)
    other_store = Store(db_path)
    try:
        for m in range(3):
            store.add_minute(sid, make_minute(m))
            # Nothing closed or flushed on the writer: the minute is committed as add_minute returns.
            assert reader.execute("SELECT count(*) FROM minutes WHERE session_id = ?", (sid,)).fetchone()[0] == m + 1
            assert len(other_store.minutes(sid)) == m + 1
    finally:
        reader.close()
        other_store.close()


def test_add_minute_to_missing_session(store: Store) -> None:
    with pytest.raises(EngageError, match="no session 7"):
        store.add_minute(7, make_minute(0))


def test_unknown_emotion_key_is_rejected(store: Store) -> None:
    sid = new_session(store)
    m = make_minute(0)
    m.emotion_mean = {"contempt": 1.0}
    with pytest.raises(ValueError, match="contempt"):
        store.add_minute(sid, m)


# -------------------------------------------------------------------------- deleting, purging


def test_delete_session_cascades_to_minutes(store: Store, db_path: Path) -> None:
    keep = new_session(store, name="keep")
    gone = new_session(store, name="gone")
    for m in range(3):
        store.add_minute(keep, make_minute(m))
        store.add_minute(gone, make_minute(m))
    store.delete_session(gone)
    assert count_rows(db_path, "minutes") == 3
    assert [s.id for s in store.list_sessions()] == [keep]
    with pytest.raises(EngageError, match="no session"):
        store.delete_session(gone)


def test_purge_by_retention(store: Store, db_path: Path) -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old = new_session(store, name="old", started_at=now - timedelta(days=31))
    old_running = new_session(store, name="old-live", started_at=now - timedelta(days=40))  # this live process
    recent = new_session(store, name="recent", started_at=now - timedelta(days=29))
    store.finish_session(old, "completed")
    store.add_minute(old, make_minute(0))
    store.add_minute(recent, make_minute(0))
    assert store.purge(30, now=now) == 1
    assert {s.id for s in store.list_sessions()} == {old_running, recent}
    assert count_rows(db_path, "minutes") == 1
    assert store.purge(30, now=now) == 0
    assert store.purge(0, now=now + timedelta(days=1000)) == 0  # 0 keeps everything
    assert len(store.list_sessions()) == 2
    with pytest.raises(EngageError, match="retention must be 0"):
        store.purge(-1, now=now)


def test_mark_interrupted_only_sessions_whose_process_is_gone(store: Store, db_path: Path) -> None:
    dead = _exited_pid()
    mine = new_session(store, name="mine")
    gone = new_session(store, name="gone")
    elsewhere = new_session(store, name="elsewhere")
    done = new_session(store, name="done")
    store.finish_session(done, "completed")
    with sqlite3.connect(db_path) as con:
        con.execute("UPDATE sessions SET pid = ? WHERE id IN (?, ?)", (dead, gone, done))
        con.execute("UPDATE sessions SET host = ?, pid = ? WHERE id = ?", ("another-host", dead, elsewhere))
    assert store.mark_interrupted(session_ids=[mine]) == 0
    assert store.mark_interrupted() == 1
    statuses = {s.id: s.status for s in store.list_sessions()}
    assert statuses == {mine: "running", gone: "interrupted", elsewhere: "running", done: "completed"}
    assert f"process {dead} on {socket.gethostname()}" in (store.get_session(gone).status_detail or "")
    assert store.mark_interrupted() == 0


def test_a_running_session_whose_pid_was_reused_is_interrupted(store: Store, db_path: Path) -> None:
    session = new_session(store, name="crashed long ago")
    with sqlite3.connect(db_path) as con:  # its process died and the pid went to a process started later
        con.execute("UPDATE sessions SET created_at = '2026-01-05 09:00:00.000000' WHERE id = ?", (session,))
    newcomer = subprocess.Popen(["sleep", "30"])
    try:
        with sqlite3.connect(db_path) as con:
            con.execute("UPDATE sessions SET pid = ? WHERE id = ?", (newcomer.pid, session))
        assert store.mark_interrupted() == 1
        assert store.get_session(session).status == "interrupted"
    finally:
        newcomer.kill()
        newcomer.wait()


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


# ------------------------------------------------------------------------------------- errors


def test_read_only_database_gives_a_clear_error(db_path: Path) -> None:
    Store(db_path).close()
    # mode=ro stops writes even for root, unlike chmod.
    with Store(f"sqlite:///file:{db_path}?mode=ro&uri=true") as read_only:
        assert read_only.list_sessions() == []  # reading works
        with pytest.raises(EngageError) as excinfo:
            new_session(read_only)
    assert str(excinfo.value) == f"database is read-only: {db_path}"


def test_read_only_database_that_needs_an_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    with pytest.raises(EngageError, match=f"^database is read-only: {path}$"):
        Store(f"sqlite:///file:{path}?mode=ro&uri=true")


def test_read_only_file_and_directory_by_permissions(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "engage.db"
    Store(path).close()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("running as root: file permissions do not stop writes (the mode=ro test covers this)")
        with pytest.raises(EngageError, match="^database is read-only: "):
            with Store(path) as store:
                new_session(store)
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


def test_locked_database_gives_a_clear_error(db_path: Path) -> None:
    Store(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO alembic_version VALUES ('x')")
    try:
        with Store(db_path, busy_timeout=0.1) as store:
            assert store.list_sessions() == []  # WAL: readers are not blocked by a writer
            with pytest.raises(EngageError) as excinfo:
                new_session(store)
        assert str(excinfo.value) == f"database is locked by another process: {db_path}"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_database_while_opening(tmp_path: Path) -> None:
    path = tmp_path / "rollback-journal.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(EngageError, match=f"^database is locked by another process: {path}$"):
            Store(path, busy_timeout=0.1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are lecture notes, not a database\n" * 50)
    with pytest.raises(EngageError) as excinfo:
        Store(path)
    assert str(excinfo.value) == f"not an engage database: {path}"
    with pytest.raises(EngageError, match="^not an engage database: .*a directory"):
        Store(tmp_path)


def test_someone_elses_sqlite_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    with pytest.raises(EngageError, match="^not an engage database: "):
        Store(path)
    with sqlite3.connect(path) as con:
        assert [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["invoices"]


def test_missing_driver_and_unknown_dialect() -> None:
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("MySQLdb is installed")
    with pytest.raises(EngageError, match="driver for 'mysql\\+mysqldb' is not installed") as excinfo:
        open_store("mysql+mysqldb://user:secret@localhost/engage")
    assert "secret" not in str(excinfo.value)
    with pytest.raises(EngageError, match="unknown database type 'nosuchdb'"):
        open_store("nosuchdb://localhost/engage")
