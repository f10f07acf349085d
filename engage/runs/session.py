"""One session's lifecycle, the same for `analyze`, `batch` and `record`.

    claim the media  ->  open the session  ->  frames through analyzer + aggregator  ->  closed minutes
    into a sink  ->  finish once (completed / partial / failed)  ->  listeners told

- ``claim_media``: media analysed before (same content hash) is reused when that session completed; an
  unfinished one is redone from the start only when its process is gone. A session still being written by
  a live process is never touched: the second run stops with SessionBusy.
- ``open_session``: creates the running session; if another live process opened one for the same media at
  the same moment, the later of the two backs out (SessionBusy), so two runs never share a session.
- ``analyze_frames``: the frame loop and the one place that decides how a run ended.
- ``SessionWriter``: commits closed minutes and finishes the session, telling a listener (the Sheets mirror).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from engage.errors import EngageError, SessionBusy, SourceError
from engage.minutes.aggregate import MinuteAggregator
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import SessionInfo, Store
from engage.types import Frame, FrameFaces, SessionListener

log = logging.getLogger(__name__)


class FrameAnalyzerLike(Protocol):
    def analyze(self, frame: Frame) -> FrameFaces: ...


@dataclass(frozen=True)
class SessionSpec:
    """What a new session records about itself."""

    name: str
    source: str
    kind: str  # "video", "images", "camera" or "stream"
    sample_fps: float
    model: str
    config: Mapping[str, Any]
    content_hash: str | None = None


def kept(minutes: int) -> str:
    return f"kept {minutes} finished minute{'s' * (minutes != 1)}"


def claim_media(store: Store, content_hash: str | None, *, new: bool = False) -> SessionInfo | None:
    """The completed session to reuse for this media, or None to analyse it.

    ``new`` analyses again whatever exists. An unfinished session of the same media (partial, failed,
    interrupted, or running in a process that is gone) is deleted so that it is redone from the start;
    one whose process is alive raises SessionBusy.
    """
    if content_hash is None or new:
        return None
    existing = store.find_by_hash(content_hash)
    if existing is None:
        return None
    if existing.status == "completed":
        return existing
    if existing.status == "running" and not store.mark_interrupted([existing.id]):
        raise SessionBusy(f"this media is being analysed now as session #{existing.id} '{existing.name}'")
    store.delete_session(existing.id)
    return None


def open_session(store: Store, spec: SessionSpec, *, new: bool = False) -> int:
    """Create the running session and return its id.

    Two runs that claimed the same media at the same moment both get here; the one whose session came
    second deletes it again and raises SessionBusy, so each session has exactly one writer.
    """
    session_id = store.create_session(
        name=spec.name,
        source=spec.source,
        kind=spec.kind,
        sample_fps=spec.sample_fps,
        model=spec.model,
        config=dict(spec.config),
        content_hash=spec.content_hash,
    )
    if spec.content_hash is None or new:
        return session_id
    rivals = [
        s
        for s in store.sessions_of_media(spec.content_hash, status="running")
        if s.status == "running" and s.id < session_id
    ]
    live = [s for s in rivals if not store.mark_interrupted([s.id])]
    if live:
        store.delete_session(session_id)
        raise SessionBusy(f"this media is being analysed now as session #{live[0].id} '{live[0].name}'")
    return session_id


@dataclass
class Tally:
    """How far a run got."""

    frames: int = 0
    faces: int = 0
    minutes: int = 0
    media_s: float = 0.0  # media time of the last analysed frame


@dataclass(frozen=True)
class Outcome:
    """How a run ended: the session's final status, its one-line detail, and the error to re-raise, if any."""

    status: str  # "completed", "partial" or "failed"
    detail: str | None
    media_s: float
    error: BaseException | None = None


class StopRequested(Exception):
    """A requested stop (Ctrl-C, SIGTERM, a closed window) seen between frames."""


def analyze_frames(
    frames: Iterable[Frame],
    analyzer: FrameAnalyzerLike,
    aggregator: MinuteAggregator,
    commit: Callable[[MinuteMetrics], None],
    tally: Tally,
    *,
    end_of_media: Callable[[], float | None] = lambda: None,
    duration: Callable[[], float | None] = lambda: None,
    on_frame: Callable[[Frame, FrameFaces], None] | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Run every frame through the analyzer and aggregator, commit each minute as it closes, and say how it ended.

    Whatever happens, the open minute is closed and committed first: a run that fails half-way keeps what it
    finished. ``end_of_media()`` is where sampling could reach (it closes the last minute with its true
    expected frame count) and ``duration()`` the media's length, both asked only at a normal end.
    """

    def close(end_time: float | None = None) -> None:
        last = aggregator.finish(end_time)
        if last is not None:
            commit(last)
            tally.minutes += 1

    try:
        for frame in frames:
            result = analyzer.analyze(frame)
            tally.frames += 1
            tally.faces += len(result.boxes)
            tally.media_s = frame.timestamp
            for closed in aggregator.add(result):
                commit(closed)
                tally.minutes += 1
            if on_frame is not None:
                on_frame(frame, result)
            if stop is not None and stop.is_set():
                raise StopRequested
    except SourceError as exc:
        close()
        return Outcome("partial", f"{exc} ({kept(tally.minutes)})", tally.media_s, exc)
    except (StopRequested, KeyboardInterrupt):
        close()
        return Outcome("partial", "stopped before the end of the source", tally.media_s, KeyboardInterrupt())
    except Exception as exc:  # a decoder crash or a bug: keep the finished minutes, say what happened
        close()
        return Outcome("partial", f"{type(exc).__name__}: {exc} ({kept(tally.minutes)})", tally.media_s, exc)
    close(end_of_media())
    if tally.frames == 0:
        return Outcome("failed", "no frame could be decoded", 0.0, SourceError("no frame could be decoded"))
    return Outcome("completed", None, duration() or tally.media_s)


class SessionWriter:
    """The store side of one session: closed minutes committed at once, finished exactly once.

    ``listener`` (the Sheets mirror) is told after every commit and at the end; its failures are logged and
    never stop the run.
    """

    def __init__(self, store: Store, session_id: int, listener: SessionListener | None = None) -> None:
        self.store, self.session_id, self.listener = store, session_id, listener
        self.finished = False

    def add(self, minute: MinuteMetrics) -> None:
        self.store.add_minute(self.session_id, minute)
        self.tell()

    def finish(self, outcome: Outcome) -> None:
        """Record the outcome (once; a second call does nothing)."""
        if self.finished:
            return
        self.finished = True
        try:
            self.store.finish_session(
                self.session_id, outcome.status, detail=outcome.detail, media_duration_s=outcome.media_s
            )
        finally:
            self.tell()

    def tell(self) -> None:
        if self.listener is None:
            return
        try:
            self.listener.notify(self.session_id)
        except Exception as exc:  # mirroring must never stop an analysis; the outbox retries
            log.warning("session listener: %s", exc)

    def info(self) -> SessionInfo:
        return self.store.get_session(self.session_id)


def finish_quietly(writer: SessionWriter, outcome: Outcome) -> None:
    """Finish during an abort: a database that is gone meanwhile must not hide the first error."""
    try:
        writer.finish(outcome)
    except EngageError as exc:
        log.warning("session #%s could not be finished: %s", writer.session_id, exc)
