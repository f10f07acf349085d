"""`engage record`: real H.264 clips of real faces through real OpenCV capture, paced on a fast clock.

A clip is played at real-time pace on a ScaledClock, so a 2.5-minute lecture takes seconds. The only stand-in
is the camera device in the reconnect tests (a real capture of a real clip that stops delivering, then comes
back), at the edge of the world.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import make_clip, truncate

from engage.config import load_config
from engage.errors import SourceError
from engage.runs.preview import open_preview, render_preview
from engage.runs.recorder import Recorder
from engage.runs.recorder_status import RecorderStatus
from engage.sources.live import LiveInput, ScaledClock, file_input, open_live_input
from engage.store.database import open_store
from engage.types import Frame
from engage.vision.analyzer import FrameAnalyzer

CLIP_SECONDS = 150


@pytest.fixture(scope="module")
def lecture(tmp_path_factory) -> Path:
    """2.5 minutes of two real faces, 10 frames/s, H.264, with the index first (so a cut copy still opens)."""
    folder = tmp_path_factory.mktemp("lecture")
    return make_clip(folder / "lecture.mp4", CLIP_SECONDS, fps=10, size=(320, 240), faces=2, faststart=True)


@pytest.fixture(scope="module")
def config():
    return load_config(environ={})


@pytest.fixture(scope="module")
def analyzer(config) -> FrameAnalyzer:
    return FrameAnalyzer(config)


@pytest.fixture()
def store(tmp_path: Path):
    return open_store(tmp_path / "engage.db")


class TimedAnalyzer:
    """The real analyzer, noting when (on the session clock) each frame was analysed; optionally slow."""

    def __init__(self, analyzer: FrameAnalyzer, clock: ScaledClock, slow_s: float = 0.0) -> None:
        self.real, self.clock, self.slow_s = analyzer, clock, slow_s
        self.classifier = analyzer.classifier
        self.seen: list[tuple[float, float]] = []  # (clock time, frame timestamp)
        self.t0: float | None = None

    def for_session(self) -> TimedAnalyzer:
        return self

    def analyze(self, frame: Frame):
        self.seen.append((self.clock.now(), frame.timestamp))
        result = self.real.analyze(frame)
        self.clock.sleep(self.slow_s)
        return result


def test_file_played_in_real_time_commits_every_minute(lecture, store, config, analyzer) -> None:
    speed = 25
    clock = ScaledClock(speed)
    statuses: list[RecorderStatus] = []
    closed: list[int] = []
    started = time.perf_counter()
    result = Recorder(
        file_input(lecture),
        store,
        config,
        analyzer,
        name="physics",
        clock=clock,
        on_status=statuses.append,
        on_minute=lambda m: closed.append(m.minute),
    ).run()
    wall = time.perf_counter() - started
    assert wall >= 0.95 * CLIP_SECONDS / speed  # paced: never faster than the file's own timestamps
    session = result.session
    assert (session.kind, session.status, session.name) == ("file-realtime", "completed", "physics")
    assert session.status_detail == "end of file" and result.stop_reason == "end of file"
    assert session.media_duration_s == pytest.approx(CLIP_SECONDS, abs=0.2)
    minutes = store.minutes(session.id)
    assert [m.minute for m in minutes] == closed == [0, 1, 2]
    assert [m.frames_expected for m in minutes] == [60, 60, 30]  # sample_fps 1: what the rate intended
    assert all(0 < m.frames_sampled <= m.frames_expected for m in minutes)
    # How many samples keep up at 25x depends on the machine's load; every minute gets some (checked above).
    assert sum(m.frames_sampled for m in minutes) == result.frames >= 3
    assert result.intended == 150 and result.dropped == 150 - result.frames
    for m in minutes:
        assert m.faces_mean == pytest.approx(2.0) and not m.suppressed and 0 < m.engagement <= 1
        assert m.minute * 60 <= m.start_s <= m.end_s < (m.minute + 1) * 60
    assert statuses and statuses[-1].faces_now == 2 and statuses[-1].engagement_now is not None
    assert result.process_ms_median is not None and result.process_ms_p95 >= result.process_ms_median


def test_slow_frames_are_dropped_not_queued(lecture, store, config, analyzer) -> None:
    speed = 10  # 2.5 s of session time is 250 ms: room for the real analysis even on a busy machine
    clock = ScaledClock(speed)
    slow = TimedAnalyzer(analyzer, clock, slow_s=2.5)  # each frame takes 2.5 s of a 1-frame/s schedule
    result = Recorder(file_input(lecture), store, config, slow, duration=45, clock=clock).run()
    assert result.session.status == "completed" and result.stop_reason == "duration reached"
    assert 8 <= result.frames <= 20 and result.intended >= 44  # about one sample time in three
    (minute,) = store.minutes(result.session.id)
    assert minute.frames_sampled == result.frames and minute.frames_expected == result.intended
    # Every analysed frame is the newest one when its turn comes, never one that waited in a queue: the lag
    # between a frame's time and its analysis stays flat (a queue would add 1.5 s a frame, 20 s by the end).
    t0 = slow.seen[0][0] - slow.seen[0][1]
    lags = [(at - t0) - timestamp for at, timestamp in slow.seen]
    assert max(lags) - min(lags) < 2.5, lags
    gaps = np.diff([timestamp for _, timestamp in slow.seen])
    assert np.median(gaps) >= 2.4 and gaps.min() > 1.0  # the camera read went on while each frame was analysed


class FlakyCamera:
    """A camera at 10 frames/s (a real capture of a real clip) that stops delivering after `fail_after` s."""

    def __init__(self, clip: Path, clock: ScaledClock, fail_after: float | None) -> None:
        self.capture = cv2.VideoCapture(str(clip), cv2.CAP_FFMPEG)
        self.clock = clock
        self.fail_at = None if fail_after is None else clock.now() + fail_after

    def grab(self) -> bool:
        self.clock.sleep(0.1)
        if self.fail_at is not None and self.clock.now() >= self.fail_at:
            return False
        return self.capture.grab()

    def retrieve(self):
        return self.capture.retrieve()

    def get(self, prop: int) -> float:
        return self.capture.get(prop)

    def release(self) -> None:
        self.capture.release()


def flaky_input(clip: Path, clock: ScaledClock, fail_after: float, failed_opens: int | None) -> LiveInput:
    """A camera lost after `fail_after` seconds; reopening fails `failed_opens` times (None: forever)."""
    opens = {"n": 0}

    def opener() -> FlakyCamera:
        opens["n"] += 1
        if opens["n"] == 1:
            return FlakyCamera(clip, clock, fail_after)
        if failed_opens is None or opens["n"] <= 1 + failed_opens:
            raise SourceError("no camera at index 0")
        return FlakyCamera(clip, clock, None)

    return LiveInput("camera", "camera 0", "camera:0", opener)


def test_lost_camera_reconnects_records_the_gap_and_resumes(lecture, store, config, analyzer) -> None:
    clock = ScaledClock(20)
    live = flaky_input(lecture, clock, fail_after=30, failed_opens=3)  # lost at ~30 s, back ~3.5-7 s later
    result = Recorder(live, store, config, analyzer, duration=90, clock=clock).run()
    session = result.session
    assert session.kind == "camera" and session.status == "completed"
    (gap,) = result.gaps
    assert 29 <= gap.start_s <= 40 and 3 <= gap.end_s - gap.start_s <= 30  # (load can only make them later)
    assert "source lost at 0:3" in session.status_detail and "duration reached" in session.status_detail
    first, second = store.minutes(session.id)
    assert first.frames_expected == 60 and first.frames_sampled <= 60 - 3  # the gap's sample times are missing
    assert second.frames_expected == 30 and second.frames_sampled > 0  # the same session went on after it
    assert second.faces_mean == pytest.approx(2.0)


def test_camera_that_never_comes_back_ends_partial_with_minutes_kept(lecture, store, analyzer) -> None:
    config = load_config(environ={}, overrides={"recorder": {"reconnect_s": 70}})
    clock = ScaledClock(30)
    live = flaky_input(lecture, clock, fail_after=45, failed_opens=None)  # lost at ~45 s, gone for good
    result = Recorder(live, store, config, analyzer, clock=clock).run()
    session = result.session
    assert session.status == "partial" and result.error is not None
    assert "was lost at 0:4" in session.status_detail and "did not come back within 70 s" in session.status_detail
    minutes = store.minutes(session.id)
    # Minutes close by the clock: the one the camera died in, and the empty one that passed while retrying.
    assert [m.minute for m in minutes] == [0, 1]
    assert 5 <= minutes[0].frames_sampled < 48 and minutes[0].frames_expected == 60
    assert minutes[1].frames_sampled == 0 and minutes[1].suppressed and minutes[1].frames_expected >= 50


def test_truncated_file_keeps_its_minutes_and_ends_partial(lecture, store, config, analyzer, tmp_path) -> None:
    cut = truncate(lecture, 0.6, tmp_path / "cut.mp4")
    result = Recorder(file_input(cut), store, config, analyzer, clock=ScaledClock(30)).run()
    assert result.session.status == "partial"
    assert (
        "truncated file?" in result.session.status_detail and "kept 2 finished minutes" in result.session.status_detail
    )
    minutes = store.minutes(result.session.id)
    assert [m.minute for m in minutes] == [0, 1] and minutes[0].frames_sampled > 0


class Mirror:
    """What the recorder needs of engage.sheets.client.SheetsMirror: a notify() that must never hold up capture."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[int] = []
        self.fail = fail

    def notify(self, session_id: int) -> None:
        self.calls.append(session_id)
        if self.fail:
            raise ConnectionError("sheets unreachable")


@pytest.mark.parametrize("fail", [False, True], ids=["mirrored", "mirror-failing"])
def test_each_closed_minute_wakes_the_sheets_mirror(lecture, store, config, analyzer, fail) -> None:
    mirror = Mirror(fail)
    result = Recorder(
        file_input(lecture), store, config, analyzer, duration=70, clock=ScaledClock(40), mirror=mirror
    ).run()
    assert result.session.status == "completed" and result.minutes == 2
    assert mirror.calls == [result.session.id] * 3  # after each committed minute, and for the ended session


def test_request_stop_from_another_thread(lecture, store, config, analyzer) -> None:
    elapsed = [0.0]
    recorder = Recorder(
        file_input(lecture),
        store,
        config,
        analyzer,
        clock=ScaledClock(20),
        on_status=lambda s: elapsed.append(s.elapsed_s),
    )

    def stop_after_30_s() -> None:  # of session time, whatever the machine's load
        deadline = time.monotonic() + 60
        while elapsed[-1] < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        recorder.request_stop("teacher pressed stop")

    threading.Thread(target=stop_after_30_s, daemon=True).start()
    result = recorder.run()
    assert result.session.status == "completed" and result.session.status_detail == "teacher pressed stop"
    assert 30 <= result.elapsed_s < 60 and result.minutes == 1


# --- preview -------------------------------------------------------------------------------------------------


def test_preview_without_display_says_so_and_runs_headless(monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    said: list[str] = []
    assert open_preview("engage", said.append) is None
    assert said == ["no display: running headless (no preview window)"]


def test_preview_picture_boxes_faces_and_shows_the_running_engagement(lecture, analyzer) -> None:
    capture = cv2.VideoCapture(str(lecture), cv2.CAP_FFMPEG)
    ok, image = capture.read()
    capture.release()
    assert ok
    before = image.copy()
    result = analyzer.analyze(Frame(image, 0.0, 0))
    assert len(result.boxes) == 2
    status = RecorderStatus(65.0, 1, 2, 60, 62, 1.0, "recording", 0.71)
    picture = render_preview(image, result, status)
    assert picture.shape == image.shape and np.array_equal(image, before)  # drawn on a copy
    box = result.boxes[0]
    edge = picture[box.y, box.x : box.x + box.w].astype(int) - image[box.y, box.x : box.x + box.w].astype(int)
    assert np.abs(edge).sum() > 0  # the box outline is drawn
    assert picture[:28].mean() < image[:28].mean()  # the status band on top


@pytest.fixture(scope="module")
def x_display():
    """A real X server (Xvfb) on a free display number, for the preview window."""
    import shutil

    pytest.importorskip("tkinter", reason="Tk is not installed (Debian: apt-get install python3-tk)")
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (Debian: apt-get install xvfb)")
    number = next(n for n in range(90, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def test_preview_window_on_a_real_display(x_display, lecture, analyzer, monkeypatch) -> None:
    monkeypatch.setenv("DISPLAY", x_display)
    said: list[str] = []
    window = open_preview("engage test", said.append)
    assert window is not None and said == []
    capture = cv2.VideoCapture(str(lecture), cv2.CAP_FFMPEG)
    ok, image = capture.read()
    capture.release()
    result = analyzer.analyze(Frame(image, 0.0, 0))
    window.show(image, result, RecorderStatus(5.0, 0, 2, 5, 5, 1.0, "recording", 0.7))
    assert window.poll()
    shown = window._photo  # the picture on screen is the annotated frame
    assert (shown.width(), shown.height()) == (image.shape[1], image.shape[0])
    window.close()


def test_record_command_with_preview_on_a_display(x_display, lecture, tmp_path) -> None:
    db = tmp_path / "engage.db"
    result = subprocess.run(
        [sys.executable, "-m", "engage", "record", "--source", str(lecture), "--speed", "30", "--duration", "30"]
        + ["--preview", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DISPLAY": x_display},
    )
    assert result.returncode == 0, result.stderr
    assert "headless" not in result.stderr and "completed (duration reached)" in result.stdout
    assert [r[2] for r in minute_rows(db)] == [30]


# --- errors -------------------------------------------------------------------------------------------------


def test_source_errors_are_one_clear_line(tmp_path) -> None:
    with pytest.raises(SourceError, match=r"^no camera at index 97: .*camera"):
        open_live_input(camera=97)
    with pytest.raises(SourceError, match=r"^stream did not answer: rtsp://127\.0\.0\.1:9/live$"):
        open_live_input(source="rtsp://127.0.0.1:9/live", timeout=3)
    with pytest.raises(SourceError, match="^a folder cannot be recorded live"):
        open_live_input(source=str(tmp_path))
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(SourceError, match="^not a readable video"):
        open_live_input(source=str(tmp_path / "notes.mp4"))


# --- the command, in a subprocess -------------------------------------------------------------------------------


def engage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def start_recording(lecture: Path, db: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """`engage record` on the clip at 10x real time; returns once one minute is committed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "engage", "record", "--source", str(lecture), "--speed", "10", "--db", str(db), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        if minute_rows(db):
            return process
    process.kill()
    raise AssertionError(f"no minute committed: {process.communicate()}")


def minute_rows(db: Path) -> list[tuple]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT minute, frames_sampled, frames_expected FROM minutes ORDER BY minute").fetchall()
    except sqlite3.OperationalError:
        return []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_and_sigterm_close_the_open_minute_and_end_the_session(lecture, tmp_path, stop) -> None:
    db = tmp_path / "engage.db"
    process = start_recording(lecture, db, "--json")
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and "Traceback" not in stderr, stderr
    summary = json.loads(stdout)
    session = summary["session"]
    assert session["status"] == "completed" and session["kind"] == "file-realtime"
    assert session["status_detail"] == ("Ctrl-C" if stop == signal.SIGINT else "SIGTERM")
    rows = minute_rows(db)
    assert len(rows) == summary["minutes"] >= 2  # the minute open at the signal was closed and kept
    assert [r[0] for r in rows] == list(range(len(rows))) and rows[0][2] == 60
    assert summary["frames_sampled"] == sum(r[1] for r in rows) and summary["frames_intended"] == sum(
        r[2] for r in rows
    )
    assert "minute 1 closed" in stderr


def test_kill_9_keeps_closed_minutes_and_marks_the_session_interrupted(lecture, tmp_path) -> None:
    db = tmp_path / "engage.db"
    process = start_recording(lecture, db)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    rows = minute_rows(db)
    assert rows and [r[0] for r in rows] == list(range(len(rows))) and all(r[1] > 0 and r[2] == 60 for r in rows)
    listed = engage("sessions", "--db", str(db), "--json")
    (session,) = json.loads(listed.stdout)
    assert session["status"] == "interrupted" and session["minutes"] == len(rows)
    assert minute_rows(db) == rows  # nothing closed was lost


def test_record_command_headless_preview_and_duration(lecture, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    db = tmp_path / "engage.db"
    result = subprocess.run(
        [sys.executable, "-m", "engage", "record", "--source", str(lecture), "--speed", "30", "--duration", "75"]
        + ["--preview", "--db", str(db), "--name", "week 3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "no display: running headless" in result.stderr
    assert "session #1 'week 3' completed (duration reached): 1:15 recorded, 2 minute(s)" in result.stdout
    assert [r[2] for r in minute_rows(db)] == [60, 15]


def test_record_command_errors_are_one_line(tmp_path) -> None:
    db = str(tmp_path / "engage.db")
    for args, expected in [
        (["--camera", "97"], "error: no camera at index 97: "),
        (["--source", "http://127.0.0.1:9/live"], "error: stream did not answer: http://127.0.0.1:9/live"),
        (["--camera", "0", "--source", "x.mp4"], "error: give either --camera or --source, not both"),
    ]:
        result = engage("record", *args, "--db", db)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith(expected), result.stderr
