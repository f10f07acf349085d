"""`engage batch`: many real clips through a real Dask LocalCluster and the local process pool, into SQLite
and a real PostgreSQL server; a corrupt file; an interrupted batch rerun without duplicates."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clips import make_clip, truncate
from postgres import new_database, postgres_server, why_not

from engage.config import load_config
from engage.errors import EngageError
from engage.runs.batch import run_batch
from engage.runs.batch_inputs import expand_inputs, session_name
from engage.store.database import open_store

SIZE = (480, 270)  # small frames keep the analysis quick; faces stay well above detector.min_face


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engage", *args], capture_output=True, text=True, timeout=timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def lectures(tmp_path_factory) -> Path:
    """A folder of three real H.264 clips of real faces: 70 s, 45 s and 30 s (2, 1 and 1 minute rows)."""
    folder = tmp_path_factory.mktemp("lectures")
    (folder / "week1").mkdir()
    make_clip(folder / "week1" / "lecture-a.mp4", 70, fps=4, size=SIZE, faces=1)
    make_clip(folder / "week1" / "lecture-b.mp4", 45, fps=4, size=SIZE, faces=2)
    make_clip(folder / "lecture-c.mp4", 30, fps=4, size=SIZE, faces=1)
    return folder


@pytest.fixture(scope="module")
def cluster():
    """A real Dask LocalCluster of two worker processes, one thread each."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def postgres():
    reason = why_not()
    if reason:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url


def config():
    return load_config(environ={})


def test_expand_inputs_and_session_names(lectures, tmp_path):
    files, problems = expand_inputs([str(lectures), str(lectures / "week1" / "*.mp4"), str(tmp_path / "gone.mp4")])
    assert [p.name for p in files] == ["lecture-c.mp4", "lecture-a.mp4", "lecture-b.mp4"]  # folder order, no repeats
    assert problems == [(str(tmp_path / "gone.mp4"), f"no such file or folder: {tmp_path / 'gone.mp4'}")]
    a = lectures / "week1" / "lecture-a.mp4"
    assert session_name(a, 3) == "lecture-a"
    assert session_name(a, 3, "{parent}/{stem} #{index:02d} ({suffix})") == "week1/lecture-a #03 (mp4)"
    with pytest.raises(EngageError, match=r"unknown field \{title\}"):
        run_batch([str(a)], config(), open_store(tmp_path / "x.db"), name_pattern="{title}")


def check_sessions(store, lectures: Path, expected_pid: int | None) -> dict[str, int]:
    sessions = store.list_sessions()
    by_name = {s.name: s for s in sessions}
    assert sorted(by_name) == ["lecture-a", "lecture-b", "lecture-c"] and len(sessions) == 3
    for name, minutes, seconds, path in [
        ("lecture-a", 2, 70, lectures / "week1" / "lecture-a.mp4"),
        ("lecture-b", 1, 45, lectures / "week1" / "lecture-b.mp4"),
        ("lecture-c", 1, 30, lectures / "lecture-c.mp4"),
    ]:
        s = by_name[name]
        assert (s.status, s.minutes, s.content_hash) == ("completed", minutes, sha256(path))
        assert s.media_duration_s == pytest.approx(seconds, abs=1)
    rows = store.minutes(by_name["lecture-a"].id)
    assert [m.frames_sampled for m in rows] == [60, 10]
    assert all(m.faces_max == 1 and m.engagement is not None for m in rows)
    assert store.minutes(by_name["lecture-b"].id)[0].faces_max == 2
    with store.engine.connect() as connection:
        pids = {row[0] for row in connection.exec_driver_sql("SELECT pid FROM sessions")}
    if expected_pid is not None:
        assert pids == {expected_pid}
    return {name: s.id for name, s in by_name.items()}


def test_dask_local_cluster_into_sqlite_through_one_writer(cluster, lectures, tmp_path):
    store = open_store(tmp_path / "batch.db")
    report = run_batch([str(lectures)], config(), store, cluster=cluster)
    assert report.executor.startswith("tcp://127.0.0.1:") and report.workers == 2 and not report.direct_writes
    assert [(Path(r.path).name, r.status, r.minutes) for r in report.results] == [
        ("lecture-c.mp4", "completed", 1),
        ("lecture-a.mp4", "completed", 2),
        ("lecture-b.mp4", "completed", 1),
    ]
    # SQLite allows one writer: the workers stream minutes back and this process writes every row.
    ids = check_sessions(store, lectures, expected_pid=os.getpid())
    # Workers run the LiteRT interpreter and yuface only: TensorFlow would cost seconds and memory per worker.
    assert not any(cluster.run(lambda: "tensorflow" in sys.modules).values())

    again = run_batch([str(lectures)], config(), store, cluster=cluster)
    assert {r.status for r in again.results} == {"skipped"}
    assert check_sessions(store, lectures, expected_pid=os.getpid()) == ids


def test_dask_local_cluster_into_postgresql_written_by_the_workers(cluster, postgres, lectures):
    url = new_database(postgres)
    store = open_store(url)  # runs the same Alembic migrations on PostgreSQL
    assert store.current_revision() == store.head_revision()
    report = run_batch([str(lectures)], config(), store, cluster=cluster)
    assert report.direct_writes and [r.status for r in report.results] == ["completed"] * 3
    ids = check_sessions(store, lectures, expected_pid=None)
    with store.engine.connect() as connection:
        writers = {row[0] for row in connection.exec_driver_sql("SELECT pid FROM sessions")}
    worker_pids = set(cluster.run(os.getpid).values())
    assert writers <= worker_pids and os.getpid() not in writers  # straight from the workers

    again = run_batch([str(lectures)], config(), store, cluster=cluster)
    assert {r.status for r in again.results} == {"skipped"}
    assert check_sessions(store, lectures, expected_pid=None) == ids


def test_store_upsert_and_migrations_on_postgresql(postgres):
    from engage.minutes.metrics import MinuteMetrics

    store = open_store(new_database(postgres))
    sid = store.create_session("s", "x.mp4", "video", 1.0, "m", {"a": 1}, content_hash="h")
    minute = MinuteMetrics(0, 0.0, 59.0, 60, 60, 60, 1.0, 1, False, {"happy": 1.0}, {"happy": 1.0}, "happy", 1.0, 0.6)
    store.add_minute(sid, minute)
    store.add_minute(sid, MinuteMetrics(**{**minute.__dict__, "faces_total": 61}))  # replaced, not duplicated
    assert [m.faces_total for m in store.minutes(sid)] == [61]
    store.finish_session(sid, "completed", media_duration_s=60)
    assert store.find_by_hash("h").status == "completed"
    store.downgrade("base")
    assert store.current_revision() is None
    store.upgrade()
    assert store.current_revision() == store.head_revision() and store.list_sessions() == []


def test_corrupt_and_truncated_files_are_reported_and_the_rest_go_on(lectures, tmp_path):
    folder = tmp_path / "term"
    folder.mkdir()
    (folder / "a.mp4").write_bytes((lectures / "lecture-c.mp4").read_bytes())
    (folder / "b.mp4").write_bytes(os.urandom(50_000))  # not a video at all
    truncate(make_clip(tmp_path / "c.mkv", 100, fps=4, size=SIZE, faces=1), 0.75, folder / "c.mkv")
    (folder / "d.mp4").write_bytes((lectures / "week1" / "lecture-b.mp4").read_bytes())
    (folder / "e.mp4").write_bytes((lectures / "lecture-c.mp4").read_bytes())  # same content as a.mp4
    db = tmp_path / "term.db"

    done = run("batch", str(folder), "--workers", "2", "--db", str(db), "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    results = {Path(r["path"]).name: r for r in json.loads(done.stdout)}
    assert {k: r["status"] for k, r in results.items()} == {
        "a.mp4": "completed",
        "b.mp4": "failed",
        "c.mkv": "partial",
        "d.mp4": "completed",
        "e.mp4": "duplicate",
    }
    assert "not a readable video" in results["b.mp4"]["error"]
    assert "truncated" in results["c.mkv"]["error"] and results["c.mkv"]["minutes"] >= 1
    assert done.stderr.strip().splitlines()[-1] == "error: 2 of 5 file(s) failed: see the table above"
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT name, status FROM sessions ORDER BY name").fetchall()
    assert rows == [("a", "completed"), ("c", "partial"), ("d", "completed")]


def _wait_for(db: Path, predicate, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as con:
                    rows = con.execute(
                        "SELECT s.name, s.status, (SELECT count(*) FROM minutes m WHERE m.session_id = s.id) "
                        "FROM sessions s"
                    ).fetchall()
            except sqlite3.OperationalError:  # the schema is still being created
                rows = []
            if predicate({name: (status, minutes) for name, status, minutes in rows}):
                return
        time.sleep(0.2)
    raise AssertionError(f"batch did not get there in {timeout} s")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_rerun_after_an_interrupted_batch_redoes_partial_files_and_duplicates_nothing(how, lectures, tmp_path):
    import psutil

    folder = tmp_path / "term"
    folder.mkdir()
    (folder / "1-short.mp4").write_bytes((lectures / "lecture-c.mp4").read_bytes())
    make_clip(folder / "2-long.mp4", 150, fps=2, size=SIZE, faces=1)
    (folder / "3-more.mp4").write_bytes((lectures / "week1" / "lecture-b.mp4").read_bytes())
    db = tmp_path / "term.db"

    batch = subprocess.Popen(
        [sys.executable, "-m", "engage", "batch", str(folder), "--workers", "1", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Stop it once the first file is done and the long one has committed a minute.
        _wait_for(db, lambda s: s.get("1-short", ("",))[0] == "completed" and s.get("2-long", ("", 0))[1] >= 1)
        workers = psutil.Process(batch.pid).children(recursive=True)
        batch.send_signal(how)
        _, stderr = batch.communicate(timeout=60)
    finally:
        batch.kill()
    if how == signal.SIGTERM:
        assert batch.returncode == 130 and "interrupted: finished videos are kept" in stderr, stderr
        assert "Traceback" not in stderr
    _, still_running = psutil.wait_procs(workers, timeout=15)
    assert not still_running, "worker processes outlived the batch"
    with sqlite3.connect(db) as con:
        before = {
            name: (sid, started) for name, sid, started in con.execute("SELECT name, id, started_at FROM sessions")
        }
        long_status = con.execute("SELECT status FROM sessions WHERE name = '2-long'").fetchone()[0]
    assert long_status == ("partial" if how == signal.SIGTERM else "running")  # a killed batch cannot say

    again = run("batch", str(folder), "--workers", "2", "--db", str(db), "--json")
    assert again.returncode == 0, again.stderr
    statuses = {Path(r["path"]).name: r["status"] for r in json.loads(again.stdout)}
    assert statuses == {"1-short.mp4": "skipped", "2-long.mp4": "completed", "3-more.mp4": "completed"}
    with sqlite3.connect(db) as con:
        sessions = con.execute(
            "SELECT name, id, status, content_hash, started_at FROM sessions ORDER BY name"
        ).fetchall()
        minutes = dict(con.execute("SELECT session_id, count(*) FROM minutes GROUP BY session_id").fetchall())
    assert [(name, status) for name, _, status, *_ in sessions] == [
        ("1-short", "completed"),
        ("2-long", "completed"),
        ("3-more", "completed"),
    ]
    assert len({h for _, _, _, h, _ in sessions}) == 3  # one session per video, nothing duplicated
    after = {name: (sid, started) for name, sid, _, _, started in sessions}
    assert after["1-short"] == before["1-short"]  # finished work is kept, not redone
    assert after["2-long"][1] > before["2-long"][1] and minutes[after["2-long"][0]] == 3  # the partial one, redone


def test_a_folder_batch_says_which_files_it_skipped(tmp_path):
    from engage.runs.batch_inputs import skipped_in_folders

    (tmp_path / "week1").mkdir()
    (tmp_path / "week1" / "notes.txt").write_text("x")
    (tmp_path / "week1" / "slides.PDF").write_bytes(b"%PDF")
    (tmp_path / "week1" / "lecture.mp4").write_bytes(b"")
    (tmp_path / "week2").mkdir()
    (tmp_path / "week2" / "lecture.mkv").write_bytes(b"")
    assert skipped_in_folders([tmp_path / "week1", tmp_path / "week2", tmp_path / "missing"]) == [
        (tmp_path / "week1", 2, [".pdf", ".txt"])
    ]
