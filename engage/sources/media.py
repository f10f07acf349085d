"""Where frames come from: video files, image folders, cameras and network streams.

Every source yields `Frame`s sampled at a requested rate. Files are sampled by media timestamps, live sources
by seconds since start. Frames live in memory only and nothing is accumulated, so memory stays flat for any
length of video.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self, runtime_checkable
from urllib.parse import urlsplit

import av
import cv2
import numpy as np

from engage.errors import EngageError, SourceError
from engage.paths import expand_user
from engage.safetext import mask_password
from engage.sources import bframes
from engage.sources.images import decode_bgr
from engage.types import Frame

log = logging.getLogger(__name__)

# OpenCV's FFmpeg backend (cameras, streams, `record --source FILE`) prints decoder complaints such as
# "[h264 @ 0x...] error while decoding MB" to stderr; engage reports a broken source itself, in one line.
# OpenCV reads this when it first opens a capture; set OPENCV_FFMPEG_LOGLEVEL yourself to see them.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
# A file that stops this much before its declared duration was cut off (truncated copy, crashed recorder).
# The allowance covers audio tracks that outlast the video and durations that containers only estimate.
TRUNCATION_ALLOWANCE_S = 2.0
TRUNCATION_ALLOWANCE_FRACTION = 0.01
# Frames no other frame refers to (most B-frames) are not decoded when samples are at least this many
# frames apart: a sample then lands a frame or two after its time, and decoding costs ~30-45% less.
SKIP_NONREF_MIN_FRAMES_PER_SAMPLE = 10
# ... unless a sample lands further than this many frames late: then that stream decodes every frame.
SKIP_NONREF_MAX_LAG_FRAMES = 4


class SourceReadError(SourceError):
    """Reading stopped part-way (truncated or corrupt file, lost camera or stream).

    Frames yielded before it was raised are valid: the caller keeps what it finished and marks the session
    partial. `media_time` is where reading stopped, in seconds.
    """

    def __init__(self, message: str, media_time: float | None = None) -> None:
        super().__init__(message)
        self.media_time = media_time


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields sampled frames."""

    kind: str  # "video", "images", "camera" or "stream"
    name: str  # display name, e.g. the file stem
    uri: str  # path, URL (password masked) or "camera:N"
    duration: float | None  # seconds of media, when known
    live: bool

    def frames(self, sample_fps: float) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class _Source:
    """Context-manager plumbing shared by the sources."""

    kind: str
    name: str
    uri: str
    duration: float | None = None
    live: bool = False
    last_frame_time: float | None = None  # media time of the last frame, once frames() has reached the end

    def frames(self, sample_fps: float) -> Iterator[Frame]:
        raise NotImplementedError

    def sampling_end(self, sample_fps: float) -> float | None:
        """Media time before which every sample time could have a frame (None: unknown).

        A frame is taken at or after its sample time, so a sample time that falls inside the last
        frame's display time (a clip of 4.004 s at 1 frame/s has one at 4.0 s) has no frame and is
        not counted as expected; otherwise the last minute of most videos would look one frame short.
        """
        if self.last_frame_time is None:
            return self.duration
        return (math.floor(round(self.last_frame_time * sample_fps, 6)) + 1) / sample_fps

    def close(self) -> None:
        """Release what the source holds. Safe to call twice."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"


def _check_rate(sample_fps: float) -> float:
    try:
        rate = float(sample_fps)
    except (TypeError, ValueError):
        rate = math.nan
    if not (rate > 0 and math.isfinite(rate)):
        raise EngageError(f"sample rate must be a positive number of frames per second, got {sample_fps!r}")
    return rate


def _reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error, without errno and path noise."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")


def _fmt_time(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.1f} s"


class VideoFileSource(_Source):
    """A video file FFmpeg can read (mp4, mkv, avi, mov, webm, ...), sampled by media timestamps, decoded with
    PyAV only as far as the samples need (frames()); sampled frames become BGR arrays, turned upright if need be."""

    kind = "video"
    live = False

    def __init__(self, path: str | Path) -> None:
        self.path = expand_user(path)
        self.name = self.path.stem
        self.uri = str(self.path)
        self._container: av.container.InputContainer | None = None
        if not self.path.exists():
            raise SourceError(f"no such file or folder: {self.path}")
        if not self.path.is_file():
            raise SourceError(f"not a video file: {self.path}")
        if self.path.stat().st_size == 0:
            raise SourceError(f"not a readable video: {self.path} (empty file)")
        self.frames_decoded = 0  # by the decoder in the last frames() run, skipped ones not counted
        self._probe()

    def _open(self) -> av.container.InputContainer:
        try:
            return av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise SourceError(f"not a readable video: {self.path} ({_reason(exc)})") from exc

    def _probe(self) -> None:
        """Check there is a decodable video frame and read the metadata; the container is closed again."""
        container = self._open()
        try:
            if not container.streams.video:
                raise SourceError(f"not a readable video: {self.path} (no video stream)")
            stream = container.streams.video[0]
            self._stream_index = stream.index
            self._time_base: Fraction = stream.time_base or Fraction(1, 90000)
            rate = stream.average_rate or stream.guessed_rate
            self.fps: float | None = float(rate) if rate else None
            try:
                first = next(container.decode(stream), None)
            except av.FFmpegError as exc:
                raise SourceError(f"not a readable video: {self.path} (first frame: {_reason(exc)})") from exc
            if first is None:
                raise SourceError(f"not a readable video: {self.path} (no video frames)")
            # Size as yielded, i.e. after turning the picture upright.
            upright = round((first.rotation or 0) / 90) % 2 == 0
            self.width, self.height = (first.width, first.height) if upright else (first.height, first.width)
            # Media time 0 is the first frame: its pts, else the stream's declared start.
            self._origin_pts: int = first.pts if first.pts is not None else (stream.start_time or 0)
            if stream.duration:
                self.duration = float(stream.duration * self._time_base)
            elif container.duration:
                self.duration = container.duration / av.time_base
            else:
                self.duration = None
        finally:
            container.close()

    def frames(self, sample_fps: float) -> Iterator[Frame]:
        """Yield the first decoded frame at or after each target time 0, 1/fps, 2/fps, ... (media time).

        When samples are ten or more frames apart, frames that no other frame refers to are not decoded
        (SKIP_NONREF_MIN_FRAMES_PER_SAMPLE), nor any B-frame where that is exact (b_frames_skippable), so a
        sample may be a few frames after its target time. Raises SourceReadError when the file cannot be read
        on, when it ends well before its declared duration (truncated), or, after yielding everything readable,
        when damaged packets were skipped. Frames yielded before the error stay valid.
        """
        rate = _check_rate(sample_fps)
        self.close()
        self.last_frame_time = None
        self.frames_decoded = 0
        container = self._container = self._open()
        return self._sample(container, rate)

    def _sample(self, container: av.container.InputContainer, rate: float) -> Iterator[Frame]:
        try:
            yield from self._decode(container, rate)
        finally:
            container.close()
            if self._container is container:
                self._container = None

    def _decode(self, container: av.container.InputContainer, rate: float) -> Iterator[Frame]:
        stream = container.streams[self._stream_index]
        # Slice threads only: frame threads cost more than they give when analysis shares the cores
        # (benchmarks/decode_speed.py and pipeline_speed.py; 10 min of 720p: 24.8 s against 30.4 s).
        stream.thread_type = "SLICE"
        time_base = self._time_base
        origin = self._origin_pts
        # Sample k is due at media time k/rate, i.e. at pts origin + k * step; integer compares per frame.
        step = 1 / (Fraction(rate).limit_denominator(1_000_000) * time_base)
        frame_ticks = round(1 / (Fraction(self.fps).limit_denominator(1001) * time_base)) if self.fps else 1
        skipping = bool(self.fps) and self.fps >= SKIP_NONREF_MIN_FRAMES_PER_SAMPLE * rate
        if skipping:
            stream.codec_context.skip_frame = "BIDIR" if self.b_frames_skippable else "NONREF"
        max_lag = SKIP_NONREF_MAX_LAG_FRAMES * frame_ticks
        next_pts = origin
        last_pts: int | None = None
        index = 0
        damaged: list[float] = []  # media times of packets the decoder rejected
        try:
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.FFmpegError as exc:
                    # Damaged data mid-file: skip the packet, the decoder recovers at the next keyframe.
                    at = self._seconds(packet.pts if packet.pts is not None else last_pts) or 0.0
                    if not damaged:
                        log.warning("%s: damaged video data at %.1f s (%s), skipping", self.path, at, _reason(exc))
                    damaged.append(at)
                    continue
                for frame in decoded:
                    self.frames_decoded += 1
                    pts = frame.pts
                    if pts is None:  # rare: guess from the previous frame and the nominal rate
                        pts = origin if last_pts is None else last_pts + frame_ticks
                    last_pts = pts
                    if pts < next_pts:
                        continue
                    if skipping and pts - next_pts > max_lag:
                        # Long runs of unreferenced frames (or a gap in the stream): stop skipping, to be safe.
                        stream.codec_context.skip_frame = "DEFAULT"
                        skipping = False
                    yield Frame(self._to_bgr(frame), float((pts - origin) * time_base), index)
                    index += 1
                    next_pts = origin + math.ceil((math.floor((pts - origin) / step) + 1) * step)
        except av.FFmpegError as exc:  # the container itself cannot be read further
            at = self._seconds(last_pts)
            raise SourceReadError(
                f"video could not be read after {_fmt_time(at)} of {_fmt_time(self.duration)}: "
                f"{self.path} ({_reason(exc)})",
                at,
            ) from exc
        ended = self.last_frame_time = self._seconds(last_pts)
        if self.duration and ended is not None:
            allowance = max(TRUNCATION_ALLOWANCE_S, TRUNCATION_ALLOWANCE_FRACTION * self.duration)
            if ended < self.duration - allowance:
                raise SourceReadError(
                    f"video ended at {_fmt_time(ended)} of {_fmt_time(self.duration)} (truncated file?): {self.path}",
                    ended,
                )
        if damaged:
            # Everything readable was yielded; raising still tells the caller the session has a hole.
            raise SourceReadError(
                f"video has damaged data from {_fmt_time(min(damaged))} to {_fmt_time(max(damaged))} "
                f"({len(damaged)} packets skipped): {self.path}",
                min(damaged),
            )

    @functools.cached_property
    def b_frames_skippable(self) -> bool:
        """Whether sampling can leave every B-frame undecoded, exactly (engage.sources.bframes; checked once)."""
        return bframes.b_frames_skippable(
            self._open, self._stream_index, self.fps, self._time_base, self.duration, SKIP_NONREF_MAX_LAG_FRAMES
        )

    def _seconds(self, pts: int | None) -> float | None:
        return None if pts is None else float((pts - self._origin_pts) * self._time_base)

    @staticmethod
    def _to_bgr(frame: av.VideoFrame) -> np.ndarray:
        image = frame.to_ndarray(format="bgr24")
        turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise display rotation
        if turns:
            image = np.rot90(image, turns)
        return np.ascontiguousarray(image)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None


def _natural_key(path: Path) -> list[object]:
    """Sort key: digits compare as numbers, so img2 comes before img10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(_Source):
    """A folder of still images taken as consecutive samples, in name order (img2 before img10).

    Image i (0-based position in name order) gets index i and timestamp i / sample_fps. Unreadable images are
    skipped and listed in `skipped`; they leave a gap in the indices, so later images keep their times.
    """

    kind = "images"
    live = False
    duration = None  # depends on the sample rate

    def __init__(self, folder: str | Path) -> None:
        self.folder = expand_user(folder)
        self.name = self.folder.name or str(self.folder)
        self.uri = str(self.folder)
        if not self.folder.exists():
            raise SourceError(f"no such file or folder: {self.folder}")
        if not self.folder.is_dir():
            raise SourceError(f"not a folder: {self.folder}")
        self.paths = sorted(
            (p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
            key=_natural_key,
        )
        if not self.paths:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"no images in folder: {self.folder} (looked for {kinds})")
        self.skipped: list[str] = []

    def frames(self, sample_fps: float) -> Iterator[Frame]:
        """Yield each readable image; raise SourceReadError if none of them is readable."""
        return self._read_all(_check_rate(sample_fps))

    def _read_all(self, rate: float) -> Iterator[Frame]:
        self.skipped = []
        yielded = 0
        for position, path in enumerate(self.paths):
            image = self._read(path)
            if image is None:
                log.warning("skipping unreadable image %s", path)
                self.skipped.append(path.name)
                continue
            yield Frame(image, position / rate, position)
            yielded += 1
        if not yielded:
            first = self.paths[0]
            others = f" and {len(self.paths) - 1} more" if len(self.paths) > 1 else ""
            raise SourceReadError(f"no readable image in {self.folder}: {first.name}{others} could not be decoded")

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        try:  # decoded quietly (engage.sources.images): a broken image is skipped, not a libpng line on stderr
            return decode_bgr(path.read_bytes())
        except (OSError, ValueError):
            return None


class _LiveSource(_Source):
    """A cv2.VideoCapture read continuously; the latest frame is emitted whenever a sample is due."""

    live = True
    duration = None

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._capture: cv2.VideoCapture | None = None

    def _open_capture(self) -> cv2.VideoCapture:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def open_capture(self) -> cv2.VideoCapture:
        """The OpenCV capture itself, opened again if it was closed (the recorder reads it in its own thread)."""
        if self._capture is None:
            self._capture = self._open_capture()
        return self._capture

    def frames(self, sample_fps: float) -> Iterator[Frame]:
        """Yield frames timed in seconds since frames() started; SourceReadError when the source stops.

        A live source has no natural end: stop by closing the iterator (or leaving the `with` block).
        """
        rate = _check_rate(sample_fps)
        if self._capture is None:
            self._capture = self._open_capture()
        return self._read_live(self._capture, rate)

    def _read_live(self, capture: cv2.VideoCapture, rate: float) -> Iterator[Frame]:
        start = self._clock()
        due = 0  # number of the next sample, due at due / rate seconds
        index = 0
        elapsed = 0.0
        while True:
            # grab() every frame keeps the device buffer drained, so the frame we retrieve is the latest.
            if not capture.grab():
                self.close()  # a later frames() call opens the device again
                raise SourceReadError(f"{self._describe()} stopped delivering frames after {elapsed:.1f} s", elapsed)
            elapsed = self._clock() - start
            if elapsed * rate + 1e-9 < due:
                continue
            ok, image = capture.retrieve()
            if not ok or image is None:
                self.close()
                raise SourceReadError(f"{self._describe()} sent an unreadable frame at {elapsed:.1f} s", elapsed)
            yield Frame(image, elapsed, index)
            index += 1
            due = math.floor(elapsed * rate + 1e-9) + 1

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class CameraSource(_LiveSource):
    """A local camera by OpenCV index."""

    kind = "camera"

    def __init__(self, index: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.index = int(index)
        self.name = f"camera {self.index}"
        self.uri = f"camera:{self.index}"
        self._capture = self._open_capture()

    def _describe(self) -> str:
        return self.name

    def _open_capture(self) -> cv2.VideoCapture:
        capture = _quiet_capture(self.index)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"no camera at index {self.index}")
        return capture


class StreamSource(_LiveSource):
    """A network stream (rtsp, http(s), udp, ...) through OpenCV's FFmpeg backend."""

    kind = "stream"

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic, timeout: float = 10.0) -> None:
        super().__init__(clock)
        self._url = url
        self.timeout = timeout
        self.uri = mask_password(url)
        try:
            parts = urlsplit(url)
        except ValueError as exc:  # e.g. an unclosed [ in the host
            raise SourceError(f"not a stream address: {self.uri} ({exc})") from None
        self.name = (parts.hostname or "") + parts.path or self.uri
        self._capture = self._open_capture()

    def _describe(self) -> str:
        return f"stream {self.uri}"

    def _open_capture(self) -> cv2.VideoCapture:
        ms = int(self.timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        capture = _quiet_capture(self._url, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"stream did not answer: {self.uri}")
        return capture


def _quiet_capture(*args: object) -> cv2.VideoCapture:
    """Open a VideoCapture without OpenCV's own warnings on stderr; failures become our one-line errors."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(*args)
    finally:
        cv2.utils.logging.setLogLevel(previous)
