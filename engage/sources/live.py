"""Live inputs for `engage record`: a camera, a network stream or a video file played at real-time pace.

A capture thread (``Grabber``) reads the source continuously and converts a frame to an image only when the
recorder asks for one, so it holds at most the latest frame: nothing queues. A lost camera or stream is
reopened with back-off and the gap is recorded. The clock is injectable (``Clock``), so tests and the
benchmark can play a lecture many times faster than real time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from engage.errors import EngageError, SourceError
from engage.minutes.timefmt import format_clock
from engage.paths import expand_user
from engage.sources.media import (
    TRUNCATION_ALLOWANCE_FRACTION,
    TRUNCATION_ALLOWANCE_S,
    CameraSource,
    StreamSource,
    VideoFileSource,
)

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
        raise EngageError("give either a camera or a source, not both")
    if source is None:
        return camera_input(0 if camera is None else camera)
    text = source.strip()
    path = expand_user(text)
    if path.is_dir():
        raise SourceError(f"a folder cannot be recorded live: {path} (image folders are analysed, not recorded)")
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
        return f"source lost at {format_clock(self.start_s)} {span}"


class Grabber:
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
        log.warning("%s stopped delivering frames at %s; reconnecting", self.live.name, format_clock(lost_at))
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
            error=f"{self.live.name} was lost at {format_clock(lost_at)} and did not come back "
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
