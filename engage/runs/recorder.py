"""Live recording: a camera, a stream or a video file played in real time, committed minute by minute.

Two threads share the work. The capture thread reads the source continuously and converts a frame to an
image only when the inference loop asks for one, so it holds at most the latest frame: nothing queues. The
inference loop wakes at each sample time (``sample_fps``), takes the newest frame, detects and classifies
its faces and feeds the same aggregator as ``engage analyze``. When a frame takes longer than the sample
interval the sample times it missed are dropped, never caught up, and each minute stores how many frames
it sampled (``frames_sampled``) against how many the rate intended (``frames_expected``).

Minutes close by the clock, not by the next frame: a camera that is down for three minutes still gets its
minutes written (with no frames), and the dashboard sees each minute as soon as it is over. Timestamps are
seconds since the start on the session's clock (wall clock for cameras and streams; the file's own media
time, paced to the clock, for a file played in real time). The clock is injectable so tests and the
benchmark can run a lecture many times faster than real time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import statistics
import sys
import threading
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from engage.config import Config
from engage.errors import EngageError
from engage.minutes.aggregate import engagement_index
from engage.minutes.metrics import MinuteMetrics
from engage.runs.analyze import FrameAnalyzer, make_aggregator
from engage.sources.media import (
    TRUNCATION_ALLOWANCE_FRACTION,
    TRUNCATION_ALLOWANCE_S,
    CameraSource,
    SourceError,
    StreamSource,
    VideoFileSource,
)
from engage.store.database import SessionInfo, Store
from engage.types import Frame, FrameFaces

log = logging.getLogger(__name__)

LIVE_KINDS = ("camera", "stream", "file-realtime")
_MAX_BACKOFF_S = 5.0
_CATCH_UP_S = 0.25  # a file frame this far behind the clock is skipped rather than analysed


# ------------------------------------------------------------------------------------------------ clocks


class Clock(Protocol):
    """Where the recorder reads time and waits. ``scale``: clock seconds per real second."""

    scale: float

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time (monotonic)."""

    scale = 1.0

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ScaledClock:
    """Time running ``speed`` times faster than real time: a 3-hour lecture in minutes, a clip in a second."""

    def __init__(self, speed: float) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise EngageError(f"speed must be a positive number, got {speed!r}")
        self.scale = float(speed)
        self._origin = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._origin) * self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)


# ------------------------------------------------------------------------------------------------ inputs


class Capture(Protocol):
    """The part of cv2.VideoCapture the recorder uses (a test can hand in its own at the edge)."""

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


@dataclass
class LiveInput:
    """A live source ready to record: how to (re)open it and how to read its time."""

    kind: str  # "camera", "stream" or "file-realtime"
    name: str
    uri: str
    opener: Callable[[], Capture]  # opens the device again; raises SourceError with one line
    capture: Capture | None = None  # already open (the first open checks the source before a session exists)
    duration: float | None = None  # seconds, for files
    media_time: bool = False  # frame times from the file's timestamps, paced to the clock
    reconnect: bool = True  # retry when frames stop (cameras and streams; a file just ends)

    def open(self) -> Capture:
        if self.capture is None:
            self.capture = self.opener()
        return self.capture

    def release(self) -> None:
        if self.capture is not None:
            with contextlib.suppress(Exception):
                self.capture.release()
            self.capture = None


def camera_hint(index: int) -> str:
    """How to find a camera's index, with the cameras this machine shows (Linux: /dev/video*)."""
    if sys.platform.startswith("linux"):
        devices = sorted(Path("/dev").glob("video*"), key=lambda p: (len(p.name), p.name))
        if not devices:
            return "no camera found on this machine (/dev/video* is empty): plug one in or check its permissions"
        found = ", ".join(f"--camera {p.name[5:]}" for p in devices if p.name[5:].isdigit())
        return f"cameras here: {found} (`v4l2-ctl --list-devices` names them)"
    return "cameras are numbered from 0 in the order the system lists them: try --camera 0, then 1, 2, ..."


def camera_input(index: int) -> LiveInput:
    """A local camera; SourceError naming the cameras there are when it cannot be opened."""
    try:
        source = CameraSource(index)
    except SourceError as exc:
        raise SourceError(f"{exc}: {camera_hint(index)}") from None

    def reopen() -> Capture:
        source.close()
        return source.open_capture()

    return LiveInput("camera", source.name, source.uri, reopen, capture=source.open_capture())


def stream_input(url: str, timeout: float = 10.0) -> LiveInput:
    """A network stream; SourceError ("stream did not answer: URL") after ``timeout`` seconds."""
    # FFmpeg's own "Connection refused" lines would repeat what our one-line error says.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    source = StreamSource(url, timeout=timeout)

    def reopen() -> Capture:
        source.close()
        return source.open_capture()

    return LiveInput("stream", source.name, source.uri, reopen, capture=source.open_capture())


def file_input(path: str | Path) -> LiveInput:
    """A video file played at real-time pace (by its own timestamps) through OpenCV's FFmpeg capture."""
    checked = VideoFileSource(path)  # one clear line for a missing file, a non-video, an empty video
    reader = StreamSource(str(checked.path))
    return LiveInput(
        "file-realtime",
        checked.name,
        checked.uri,
        opener=reader.open_capture,
        capture=reader.open_capture(),
        duration=checked.duration,
        media_time=True,
        reconnect=False,
    )


def open_live_input(camera: int | None = None, source: str | None = None, timeout: float = 10.0) -> LiveInput:
    """What `engage record` reads: ``--camera N`` (default 0) or ``--source`` (file path, camera:N or URL)."""
    if camera is not None and source is not None:
        raise EngageError("give either --camera or --source, not both")
    if source is None:
        return camera_input(0 if camera is None else camera)
    text = source.strip()
    path = Path(text).expanduser()
    if path.is_dir():
        raise SourceError(f"a folder cannot be recorded live: {path} (use `engage analyze` for image folders)")
    if path.is_file():
        return file_input(path)
    if text.lower().removeprefix("camera:").isdigit():
        return camera_input(int(text.lower().removeprefix("camera:")))
    if "://" in text:
        return stream_input(text, timeout)
    raise SourceError(f"no such file, camera or stream: {text}")


# ------------------------------------------------------------------------------------------- capture thread


@dataclass
class Gap:
    """A stretch with no frames from the source (lost camera or stream), in session seconds."""

    start_s: float
    end_s: float | None = None  # None: never came back

    def describe(self) -> str:
        span = "until the end" if self.end_s is None else f"for {self.end_s - self.start_s:.0f} s"
        return f"source lost at {_clock_text(self.start_s)} {span}"


def _clock_text(seconds: float) -> str:
    s = int(seconds)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class _Grabber:
    """Reads the source in its own thread and keeps only the latest frame, converted on request."""

    def __init__(self, live: LiveInput, clock: Clock, t0: float, reconnect_s: float, stop: threading.Event) -> None:
        self.live, self.clock, self.t0, self.reconnect_s, self.stop = live, clock, t0, reconnect_s, stop
        self.cond = threading.Condition()
        self.want = False
        self.shot: tuple[np.ndarray, float] | None = None
        self.seq = 0
        self.position = 0.0  # timestamp of the newest frame read
        self.state = "recording"  # recording, reconnecting, ended (file over), failed
        self.error: str | None = None
        self.gaps: list[Gap] = []
        self.grabbed = 0
        self._want_since: float | None = None
        self.thread = threading.Thread(target=self._run, name="engage-capture", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def elapsed(self) -> float:
        return self.clock.now() - self.t0

    def _set(self, **values: Any) -> None:
        with self.cond:
            for key, value in values.items():
                setattr(self, key, value)
            self.cond.notify_all()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug or a driver exception: the inference loop ends the session as partial
            log.exception("capture thread failed")
            self._set(state="failed", error=f"capture failed: {exc}")
        finally:
            self.live.release()

    def _loop(self) -> None:
        capture = self.live.open()
        while not self.stop.is_set():
            if not capture.grab():
                if self.live.media_time:
                    self._file_ended()
                    return
                reopened = self._reconnect()
                if reopened is None:
                    return
                capture = reopened
                continue
            self.grabbed += 1
            if self.live.media_time:
                t = max(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, self.position)
                self._sleep_until(t)
            else:
                t = self.elapsed()
            with self.cond:
                self.position = t
                wanted = self.want
            if wanted and self.live.media_time and self._catching_up(t):
                continue
            if wanted:
                ok, image = capture.retrieve()
                if ok and image is not None:
                    with self.cond:
                        self.shot, self.want = (image, t), False
                        self.seq += 1
                        self.cond.notify_all()

    def _catching_up(self, t: float) -> bool:
        """A file's decoding fell behind the clock (the CPU was busy): skip to the present, within reason."""
        now = self.elapsed()
        if now - t <= _CATCH_UP_S:
            self._want_since = None
            return False
        if self._want_since is None:
            self._want_since = now
        return now - self._want_since < 1.0  # decoding cannot keep up at all: hand out what there is

    def _sleep_until(self, t: float) -> None:
        """Hold a file's frame until its media time comes on the clock (real-time pace)."""
        while not self.stop.is_set():
            wait = t - self.elapsed()
            if wait <= 0:
                return
            self.clock.sleep(min(wait, 0.1 * self.clock.scale))

    def _file_ended(self) -> None:
        duration = self.live.duration
        # Timestamps mark frame starts: the last frame shows until about one frame later.
        reached = self.position
        allowance = max(TRUNCATION_ALLOWANCE_S, TRUNCATION_ALLOWANCE_FRACTION * (duration or 0))
        if self.grabbed == 0:
            self._set(state="failed", error=f"no frame could be read from {self.live.uri}")
        elif duration and reached < duration - allowance:
            self._set(
                state="failed",
                error=f"video ended at {reached:.1f} s of {duration:.1f} s (truncated file?): {self.live.uri}",
            )
        else:
            self._set(state="ended")

    def _reconnect(self) -> Capture | None:
        """Retry with backoff for reconnect_s clock seconds; the gap is recorded. None: gave up or stopping."""
        lost_at = self.elapsed()
        gap = Gap(lost_at)
        self.live.release()
        log.warning("%s stopped delivering frames at %s; reconnecting", self.live.name, _clock_text(lost_at))
        with self.cond:
            self.gaps.append(gap)
            self.state = "reconnecting"
            self.cond.notify_all()
        delay = 0.5
        while not self.stop.is_set():
            waited = self.elapsed() - lost_at
            if waited >= self.reconnect_s:
                break
            try:
                capture = self.live.open()
            except SourceError as exc:
                log.info("reconnect to %s failed: %s", self.live.name, exc)
            else:
                if capture.grab():
                    gap.end_s = self.elapsed()
                    log.warning("%s is back after %.0f s", self.live.name, gap.end_s - lost_at)
                    self._set(state="recording", position=gap.end_s)
                    return capture
                self.live.release()
            self._sleep_interruptibly(min(delay, max(0.0, self.reconnect_s - waited)))
            delay = min(delay * 2, _MAX_BACKOFF_S)
        if self.stop.is_set():
            gap.end_s = self.elapsed()
            return None
        self._set(
            state="failed",
            error=f"{self.live.name} was lost at {_clock_text(lost_at)} and did not come back "
            f"within {self.reconnect_s:.0f} s",
        )
        return None

    def _sleep_interruptibly(self, seconds: float) -> None:
        end = self.elapsed() + seconds
        while not self.stop.is_set() and (left := end - self.elapsed()) > 0:
            self.clock.sleep(min(left, 0.1 * self.clock.scale))

    def request(self) -> int:
        """Ask for the next frame read; returns the sequence number it will follow."""
        with self.cond:
            self.want = True
            return self.seq

    def take(self, after: int, timeout_real: float) -> tuple[np.ndarray, float] | None:
        """The frame that followed request(), or None when none came in time (source stalled or lost)."""
        deadline = time.monotonic() + timeout_real
        with self.cond:
            while self.seq == after:
                if self.state not in ("recording",) or self.stop.is_set():
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.05))
            shot, self.shot = self.shot, None  # the recorder owns the image now; nothing else holds it
            return shot


# ---------------------------------------------------------------------------------------------- recorder


@dataclass
class RecorderStatus:
    """What the live status line shows; passed to ``on_status`` after every sample time."""

    elapsed_s: float
    minutes: int  # minutes closed (committed)
    faces_now: int  # faces in the latest analysed frame
    sampled: int
    intended: int
    sample_fps: float
    state: str  # recording, reconnecting
    engagement_now: float | None  # running engagement of the open minute

    @property
    def achieved_fps(self) -> float:
        return self.sampled / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def dropped(self) -> int:
        return max(0, self.intended - self.sampled)


@dataclass
class RecordResult:
    session: SessionInfo
    frames: int  # frames analysed
    intended: int  # frames the sample rate intended
    faces: int
    minutes: int
    elapsed_s: float  # session seconds recorded
    stop_reason: str
    gaps: list[Gap] = field(default_factory=list)
    process_ms_median: float | None = None
    process_ms_p95: float | None = None
    error: str | None = None  # why the source ended early (session partial)

    @property
    def dropped(self) -> int:
        return max(0, self.intended - self.frames)

    @property
    def achieved_fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session.to_dict(),
            "frames_sampled": self.frames,
            "frames_intended": self.intended,
            "frames_dropped": self.dropped,
            "sample_fps": self.session.sample_fps,
            "achieved_fps": round(self.achieved_fps, 3),
            "faces": self.faces,
            "minutes": self.minutes,
            "seconds": round(self.elapsed_s, 2),
            "stop_reason": self.stop_reason,
            "gaps": [{"start_s": round(g.start_s, 2), "end_s": g.end_s and round(g.end_s, 2)} for g in self.gaps],
            "process_ms_median": self.process_ms_median,
            "process_ms_p95": self.process_ms_p95,
            "error": self.error,
        }


class Preview(Protocol):
    def show(self, image: np.ndarray, result: FrameFaces, status: RecorderStatus) -> None: ...

    def poll(self) -> bool: ...  # False once the user closed the window

    def close(self) -> None: ...


class Recorder:
    """Record one live session: ``run()`` blocks until stopped and returns the summary.

    Stop it with ``request_stop()`` (signal handlers, another thread), ``duration``, the end of a file, or
    KeyboardInterrupt. ``mirror``: a started engage.sheets.mirror.SheetsMirror (anything with a non-blocking
    ``notify(session_id)``), woken after each committed minute; the caller starts and stops it.
    The open minute is closed and the session finished in every case; a kill -9 leaves it
    ``running`` with every closed minute committed, and the next start marks it ``interrupted``.
    """

    def __init__(
        self,
        live: LiveInput,
        store: Store,
        config: Config,
        analyzer: FrameAnalyzer,
        *,
        name: str | None = None,
        duration: float | None = None,
        clock: Clock | None = None,
        preview: Preview | None = None,
        on_status: Callable[[RecorderStatus], None] | None = None,
        on_minute: Callable[[MinuteMetrics], None] | None = None,
        mirror: Any = None,
    ) -> None:
        if duration is not None and not duration > 0:
            raise EngageError(f"duration must be a positive number of seconds, got {duration}")
        self.live, self.store, self.config, self.analyzer = live, store, config, analyzer
        self.name = name or live.name
        self.duration = duration
        self.clock = clock or SystemClock()
        self.preview = preview
        self.on_status, self.on_minute = on_status, on_minute
        self.mirror = mirror
        self.fps = config.sample_fps
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self.session_id: int | None = None

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask the recording to end at the next sample time (safe from signal handlers and other threads)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- minutes

    def _commit(self, metrics: MinuteMetrics | None) -> None:
        if metrics is None:
            return
        self._pending.append(metrics)
        self._flush()

    def _flush(self) -> None:
        """Commit pending minutes; a locked or unreachable database keeps them for the next try."""
        while self._pending:
            metrics = self._pending[0]
            try:
                self.store.add_minute(self.session_id, metrics)
            except EngageError as exc:
                log.warning("minute %d not committed yet (%s); will retry", metrics.minute + 1, exc)
                return
            self._pending.pop(0)
            self._minutes += 1
            self._intended_closed += metrics.frames_expected
            if self.on_minute:
                self.on_minute(metrics)
            if self.mirror is not None:
                try:
                    self.mirror.notify(self.session_id)
                except Exception as exc:  # mirroring must never stop a recording
                    log.warning("sheets mirror: %s", exc)

    def _empty_minute(self, minute: int, until: float) -> MinuteMetrics:
        start = minute * 60.0
        expected = math.ceil(round((min(until, start + 60.0) - start) * self.fps, 6))
        return MinuteMetrics(minute, start, start, 0, expected, 0, 0.0, 0, suppressed=True)

    def _close_before(self, t: float) -> None:
        """Close every minute that ended before session time ``t`` (an empty one if no frame was analysed)."""
        target = int(t // 60)
        while self._next_minute < target:
            m = self._next_minute
            if self._open_minute == m:
                self._commit(self._aggregator.finish((m + 1) * 60.0))
                self._open_minute = None
            else:
                self._commit(self._empty_minute(m, (m + 1) * 60.0))
            self._next_minute = m + 1
            self._eng_sum, self._eng_n = 0.0, 0

    def _close_last(self, end: float) -> None:
        self._close_before(end)
        m = self._next_minute
        if self._open_minute == m:
            self._commit(self._aggregator.finish(end))
            self._open_minute = None
        elif end - m * 60.0 > 1e-6 and math.ceil(round((end - m * 60.0) * self.fps, 6)) > 0:
            self._commit(self._empty_minute(m, end))
        self._next_minute = m + 1

    # -- the loop

    def _status(self, elapsed: float) -> RecorderStatus:
        return RecorderStatus(
            elapsed_s=elapsed,
            minutes=self._minutes,
            faces_now=self._faces_now,
            sampled=self._frames,
            intended=self._intended,
            sample_fps=self.fps,
            state=self._grabber.state if self._grabber else "recording",
            engagement_now=self._eng_sum / self._eng_n if self._eng_n else None,
        )

    def _now(self) -> float:
        """Session time: the clock for live sources, the media time reached for a file played in real time."""
        return self._grabber.position if self.live.media_time else self._grabber.elapsed()

    def run(self) -> RecordResult:
        config = self.config
        self._aggregator = make_aggregator(config)
        self._pending: list[MinuteMetrics] = []
        self._minutes = self._frames = self._faces = self._faces_now = self._intended = 0
        self._intended_closed = 0
        self._next_minute = 0
        self._open_minute: int | None = None
        self._eng_sum, self._eng_n = 0.0, 0
        self._grabber: _Grabber | None = None
        process_ms = array("d")  # 8 bytes a frame: 170 kB for 3 hours at 2 frames/s
        weights = config.engagement.weights
        interval = 1.0 / self.fps

        self.session_id = self.store.create_session(
            name=self.name,
            source=self.live.uri,
            kind=self.live.kind,
            sample_fps=self.fps,
            model=self.analyzer.classifier.name,
            config=json.loads(config.model_dump_json()),
        )
        t0 = self.clock.now()
        grabber = self._grabber = _Grabber(self.live, self.clock, t0, config.recorder.reconnect_s, self._stop)
        grabber.start()
        tick = 0  # number of the next sample time, due at tick / fps
        end = 0.0
        failure: BaseException | None = None
        try:
            while True:
                if self._stop.is_set():
                    break
                if grabber.state == "ended":
                    self.request_stop("end of file")
                    break
                if grabber.state == "failed":
                    break
                now = self._now()
                if self.duration is not None and grabber.elapsed() >= self.duration:
                    self.request_stop("duration reached")
                    break
                if self.preview is not None and not self.preview.poll():
                    self.request_stop("preview window closed")
                    break
                due = tick * interval
                if now < due:
                    self.clock.sleep(min(due - now, 0.05 * self.clock.scale))
                    continue
                # Sample times that passed while the last frame was processed are dropped, not caught up.
                current = math.floor(now * self.fps + 1e-9)
                self._intended += current - tick + 1
                tick = current + 1
                self._close_before(now)
                if grabber.state != "recording":
                    self._emit(now)
                    continue
                after = grabber.request()
                shot = grabber.take(after, timeout_real=max(2 * interval, 1.0) / self.clock.scale)
                if shot is None:
                    self._emit(now)
                    continue
                image, t = shot
                del shot
                t = max(t, self._next_minute * 60.0)  # never into a minute already committed
                started = time.perf_counter()
                result = self.analyzer.analyze(Frame(image, t, self._frames))
                process_ms.append((time.perf_counter() - started) * 1000)
                self._close_before(t)
                self._open_minute = int(t // 60)
                for closed in self._aggregator.add(result):  # empty: minutes were closed above
                    self._commit(closed)
                self._frames += 1
                self._faces_now = len(result.boxes)
                self._faces += self._faces_now
                if self._faces_now:
                    self._eng_sum += float(engagement_index(result.probabilities, weights).sum())
                    self._eng_n += self._faces_now
                if self._pending:
                    self._flush()
                status = self._emit(max(now, t))
                if self.preview is not None:
                    try:
                        self.preview.show(image, result, status)
                    except Exception as exc:  # a broken window must not end the lecture's recording
                        log.warning("preview failed, going on without it: %s", exc)
                        self.preview = None
                del image, result
        except KeyboardInterrupt:
            self.request_stop("Ctrl-C")
        except BaseException as exc:
            failure = exc
        finally:
            self._stop.set()
            grabber.thread.join(timeout=max(5.0, config.recorder.stream_timeout_s + 1))
            end = self._end_time(grabber)
            self._close_last(end)
            # Sample times intended: every one up to the end, by the minutes' own accounting.
            self._intended = max(self._intended_closed + sum(m.frames_expected for m in self._pending), self._frames)
            self._flush()
            if self.preview is not None:
                with contextlib.suppress(Exception):
                    self.preview.close()
        return self._finish(end, grabber, failure, process_ms)

    def _end_time(self, grabber: _Grabber) -> float:
        if self.live.media_time:
            if grabber.state == "ended" and self.live.duration:
                return self.live.duration
            return min(grabber.position, self.duration) if self.duration is not None else grabber.position
        end = grabber.elapsed()
        return min(end, self.duration) if self.duration is not None else end

    def _emit(self, elapsed: float) -> RecorderStatus:
        status = self._status(elapsed)
        if self.on_status:
            self.on_status(status)
        return status

    def _finish(self, end: float, grabber: _Grabber, failure: BaseException | None, process_ms: array) -> RecordResult:
        assert self.session_id is not None
        reason = self._stop_reason or ("source failed" if grabber.state == "failed" else "stopped")
        gaps = list(grabber.gaps)
        notes = [g.describe() for g in gaps]
        if self._pending:
            notes.append(f"{len(self._pending)} minute(s) could not be committed")
        error = None
        if failure is not None:
            status, error = "partial", f"{type(failure).__name__}: {failure}"
        elif grabber.state == "failed":
            status, error = "partial", grabber.error
        else:
            status = "completed"
        detail = "; ".join(filter(None, [error or reason, *notes]))
        kept = f" (kept {self._minutes} finished minute{'s' * (self._minutes != 1)})" if status == "partial" else ""
        try:
            self.store.finish_session(self.session_id, status, detail=detail + kept, media_duration_s=end)
        finally:
            if self.mirror is not None:
                try:
                    self.mirror.notify(self.session_id)
                except Exception as exc:
                    log.warning("sheets mirror: %s", exc)
        if failure is not None:
            raise failure
        ms = sorted(process_ms)
        return RecordResult(
            session=self.store.get_session(self.session_id),
            frames=self._frames,
            intended=self._intended,
            faces=self._faces,
            minutes=self._minutes,
            elapsed_s=end,
            stop_reason=reason,
            gaps=gaps,
            process_ms_median=round(statistics.median(ms), 2) if ms else None,
            process_ms_p95=round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2) if ms else None,
            error=error,
        )


# ------------------------------------------------------------------------------------------- integration


def has_display() -> bool:
    """Whether a window can be opened: on Linux and BSD that needs $DISPLAY or $WAYLAND_DISPLAY."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _draw(image: np.ndarray, result: FrameFaces) -> np.ndarray:
    from engage.vision.photos import face_results

    faces = face_results(result.boxes, result.probabilities)
    try:
        from engage.vision.annotate import draw_faces  # type: ignore[import-not-found]
    except ImportError:  # the shared drawing code is not there: plain boxes and labels
        canvas = image.copy()
        for face in faces:
            x, y, w, h = face.box
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 200, 0), 2)
            label = f"{face.label} {face.emotions[face.label]:.0%}"
            cv2.putText(canvas, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1, cv2.LINE_AA)
        return canvas
    return draw_faces(image, faces)


def render_preview(image: np.ndarray, result: FrameFaces, status: RecorderStatus, max_width: int = 1280) -> np.ndarray:
    """The preview picture: faces boxed with their top emotion, and the open minute's running engagement."""
    canvas = _draw(image, result)
    if canvas.shape[1] > max_width:
        scale = max_width / canvas.shape[1]
        canvas = cv2.resize(canvas, (max_width, round(canvas.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    engagement = "n/a" if status.engagement_now is None else f"{status.engagement_now:.2f}"
    text = (
        f"{_clock_text(status.elapsed_s)}  faces {status.faces_now}  engagement (this minute) {engagement}"
        f"  {status.achieved_fps:.1f}/{status.sample_fps:g} fps"
    )
    cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 28), (0, 0, 0), -1)
    cv2.putText(canvas, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


class TkPreview:
    """A Tk window (through Pillow's ImageTk) showing each analysed frame; works with headless OpenCV."""

    def __init__(self, title: str) -> None:
        import tkinter

        from PIL import ImageTk  # noqa: F401 - fail here, not at the first frame

        self._root = tkinter.Tk()
        self._root.title(title)
        self._label = tkinter.Label(self._root)
        self._label.pack()
        self._open = True
        self._photo = None
        self._root.protocol("WM_DELETE_WINDOW", self._closed)

    def _closed(self) -> None:
        self._open = False

    def show(self, image: np.ndarray, result: FrameFaces, status: RecorderStatus) -> None:
        from PIL import Image, ImageTk

        picture = render_preview(image, result, status)
        self._photo = ImageTk.PhotoImage(Image.fromarray(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)))
        self._label.configure(image=self._photo)

    def poll(self) -> bool:
        if self._open:
            self._root.update()
        return self._open

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._root.destroy()


def open_preview(title: str, say: Callable[[str], None]) -> Preview | None:
    """A preview window, or None with a line saying so when there is no display (then record headless)."""
    if not has_display():
        say("no display: running headless (no preview window)")
        return None
    try:
        return TkPreview(title)
    except Exception as exc:  # no Tk, or the display refused the connection
        say(f"no preview window ({exc}): running headless")
        return None
