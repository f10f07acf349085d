"""`analyze`: a finite source (a video file, a folder of images) into one new session.

Every minute is committed as it closes, so a crash loses at most the open minute, and a source that fails
half-way leaves a `partial` session holding everything finished before it. The lifecycle itself lives in
engage.runs.session, shared with batch and record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engage.config import Config
from engage.errors import EngageError, SourceError
from engage.minutes.aggregate import MinuteAggregator
from engage.paths import file_sha256
from engage.runs.session import (
    Outcome,
    SessionSpec,
    SessionWriter,
    Tally,
    analyze_frames,
    claim_media,
    finish_quietly,
    open_session,
)
from engage.sources.media import FrameSource
from engage.sources.prefetch import prefetch
from engage.store.database import SessionInfo, Store
from engage.types import SessionListener
from engage.vision.analyzer import FrameAnalyzer


class NoFacesFound(EngageError):
    """The whole source was analysed but no face was found in it."""


@dataclass
class Progress:
    media_seconds: float  # media time reached
    duration: float | None  # media duration, if known
    frames: int
    faces: int
    minutes: int  # minutes committed so far


@dataclass
class AnalysisResult:
    session: SessionInfo
    frames: int
    faces: int
    minutes: int
    skipped_existing: bool = False


def analyze(
    source: FrameSource,
    store: Store,
    config: Config,
    analyzer: FrameAnalyzer,
    name: str | None = None,
    new: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    listener: SessionListener | None = None,
) -> AnalysisResult:
    """Analyse a finite source into a new session and return it.

    The same video file analysed before (by content hash) returns the existing completed session unless
    ``new``; an unfinished earlier analysis of it is redone, unless another live process is writing it
    (SessionBusy). Raises SourceError (after marking the session partial) when the source fails half-way,
    NoFacesFound (after completing the session) when no face was seen at all, and KeyboardInterrupt (session
    partial) once ``stop`` is set or on Ctrl-C.
    """
    # The same video under another name is the same session: identify it by its bytes.
    content_hash = file_sha256(Path(source.uri)) if source.kind == "video" else None
    existing = claim_media(store, content_hash, new=new)
    if existing is not None:
        return AnalysisResult(existing, 0, 0, existing.minutes, skipped_existing=True)
    spec = SessionSpec(
        name=name or source.name,
        source=source.uri,
        kind=source.kind,
        sample_fps=config.sample_fps,
        model=analyzer.classifier.name,
        config=config.for_storage(),
        content_hash=content_hash,
    )
    writer = SessionWriter(store, open_session(store, spec, new=new), listener)
    tally = Tally()

    def progress(frame, result) -> None:
        if on_progress:
            on_progress(Progress(frame.timestamp, source.duration, tally.frames, tally.faces, tally.minutes))

    try:
        outcome = analyze_frames(
            prefetch(source.frames(config.sample_fps)),
            analyzer.for_session(),
            MinuteAggregator.from_config(config),
            writer.add,
            tally,
            end_of_media=lambda: source.sampling_end(config.sample_fps),
            duration=lambda: source.duration,
            on_frame=progress,
            stop=stop,
        )
    except BaseException as exc:
        # Committing the last minute failed too (the database went away): finish if it can, and say why.
        finish_quietly(writer, Outcome("partial", f"{type(exc).__name__}: {exc}", tally.media_s))
        raise
    writer.finish(outcome)
    session_id = writer.session_id
    if outcome.status == "partial" and isinstance(outcome.error, SourceError):
        raise SourceError(f"{outcome.detail}; session #{session_id} marked partial") from None
    if outcome.error is not None and outcome.status != "failed":
        raise outcome.error
    if outcome.status == "failed":
        raise SourceError(f"no frame could be decoded from {source.uri}")
    if tally.faces == 0:
        raise NoFacesFound(
            f"no faces found in {source.uri} ({tally.frames} frames sampled); faces must be at least "
            f"{config.detector.min_face} px tall and mostly frontal (session #{session_id} kept)"
        )
    return AnalysisResult(writer.info(), tally.frames, tally.faces, tally.minutes)
