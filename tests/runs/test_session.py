"""The one session lifecycle: a session being written by a live process is never taken over."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clips import make_clip

from engage.config import load_config
from engage.errors import SessionBusy
from engage.paths import file_sha256
from engage.runs.session import SessionSpec, claim_media, open_session
from engage.store.database import open_store


def engage(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engage", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def lecture(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "lecture.mp4", 150, fps=4, size=(640, 360), faces=2)


def spec(content_hash: str, name: str) -> SessionSpec:
    config = load_config(None)
    return SessionSpec(name, "lecture.mp4", "video", config.sample_fps, "m", {}, content_hash)


def test_two_analyses_of_one_file_keep_one_session_each_writer(lecture, tmp_path, engage_home):
    db = tmp_path / "engage.db"
    first = engage("analyze", str(lecture), "--db", str(db), "--name", "first", "--json")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.poll() is None:
        if db.exists():
            with sqlite3.connect(db) as c:
                c.execute("PRAGMA busy_timeout = 5000")
                tables = {r[0] for r in c.execute("select name from sqlite_master where type='table'")}
                if "sessions" in tables and c.execute("select count(*) from sessions").fetchone()[0]:
                    break
        time.sleep(0.05)
    assert first.poll() is None, "the first analysis ended before the second could start"
    second = engage("analyze", str(lecture), "--db", str(db), "--name", "second")
    _, second_err = second.communicate(timeout=300)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert json.loads(first_out)["session"]["name"] == "first"
    assert second.returncode == 1 and "Traceback" not in second_err
    assert "being analysed now as session #1 'first'" in second_err
    with sqlite3.connect(db) as c:
        assert c.execute("select id, name, status from sessions").fetchall() == [(1, "first", "completed")]
        assert c.execute("select count(*) from minutes where session_id = 1").fetchone()[0] == 3


def test_a_session_written_by_a_live_process_is_not_claimed(lecture, tmp_path):
    content_hash = file_sha256(lecture)
    with open_store(tmp_path / "engage.db") as store:
        store.upgrade()
        live = open_session(store, spec(content_hash, "live"))  # this test process is alive
        with pytest.raises(SessionBusy, match=f"session #{live} 'live'"):
            claim_media(store, content_hash)
        assert store.get_session(live).status == "running"
        store.finish_session(live, "partial", detail="stopped")
        assert claim_media(store, content_hash) is None  # unfinished and not running: redone
        assert store.list_sessions() == []


def test_of_two_sessions_opened_at_once_for_one_media_the_later_backs_out(lecture, tmp_path):
    content_hash = file_sha256(lecture)
    with open_store(tmp_path / "engage.db") as store:
        store.upgrade()
        # Both runs claimed the media before either had created its session; the first one then opened it.
        earlier = store.create_session(
            name="earlier", source="a", kind="video", sample_fps=1, model="m", config={}, content_hash=content_hash
        )
        with pytest.raises(SessionBusy, match=f"#{earlier} 'earlier'"):
            open_session(store, spec(content_hash, "later"))
        assert [s.name for s in store.list_sessions()] == ["earlier"]
        # --new analyses again on purpose: no rivalry.
        again = open_session(store, spec(content_hash, "again"), new=True)
        assert again != earlier


def test_rivals_are_looked_up_by_media_and_status_not_by_reading_every_session(tmp_path):
    with open_store(tmp_path / "engage.db") as store:
        store.upgrade()

        def made(name: str, content_hash: str) -> int:
            return store.create_session(
                name=name, source=name, kind="video", sample_fps=1, model="m", config={}, content_hash=content_hash
            )

        done, other, running = made("done", "aa"), made("other media", "bb"), made("running", "aa")
        store.finish_session(done, "completed")
        assert [s.id for s in store.sessions_of_media("aa")] == [running, done]
        assert [s.id for s in store.sessions_of_media("aa", status="running")] == [running]
        assert [s.id for s in store.sessions_of_media("bb")] == [other]
        assert store.sessions_of_media("bb", status="completed") == []
        with pytest.raises(SessionBusy, match=f"#{running} 'running'"):
            open_session(store, spec("aa", "later"))


def test_a_completed_session_is_reused_and_new_ignores_it(lecture, tmp_path):
    content_hash = file_sha256(lecture)
    with open_store(tmp_path / "engage.db") as store:
        store.upgrade()
        done = open_session(store, spec(content_hash, "done"))
        store.finish_session(done, "completed")
        assert claim_media(store, content_hash).id == done
        assert claim_media(store, content_hash, new=True) is None


def test_the_stale_session_of_a_dead_process_is_redone(lecture, tmp_path):
    content_hash = file_sha256(lecture)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open_store(tmp_path / "engage.db") as store:
        store.upgrade()
        stale = open_session(store, spec(content_hash, "stale"))
    with sqlite3.connect(tmp_path / "engage.db") as c:
        c.execute("update sessions set pid = ? where id = ?", (dead.pid, stale))
    with open_store(tmp_path / "engage.db") as store:
        assert claim_media(store, content_hash) is None
        assert store.list_sessions() == []
    assert os.getpid() != dead.pid
