"""The analysis pipeline: source -> sampler -> detector -> classifier -> aggregator -> store.

`analyze` commits every minute as it closes, so a crash loses at most the open minute, and a
source that fails half-way leaves a `partial` session holding everything finished before it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engage.config import Config
from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.aggregate import MinuteAggregator
from engage.paths import file_sha256
from engage.sources.media import FrameSource, SourceError
from engage.sources.prefetch import prefetch
from engage.store.database import SessionInfo, Store
from engage.types import Frame, FrameFaces
from engage.vision.classifier import EmotionClassifier
from engage.vision.detection import FaceDetector, crop_face, make_detector


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


class FrameAnalyzer:
    """Detector + classifier for single frames: the part of the pipeline the recorder shares."""

    def __init__(
        self, config: Config, classifier: EmotionClassifier | None = None, detector: FaceDetector | None = None
    ) -> None:
        d = config.detector
        self.detector = detector or make_detector(
            d.name,
            min_face=d.min_face,
            score_threshold=d.score_threshold,
            max_side=d.max_side,
            fast_side=d.fast_side,
            check_every=d.check_every,
        )
        self.classifier = classifier or EmotionClassifier(config.classifier.model, threads=config.classifier.threads)
        self.margin = d.margin

    def analyze(self, frame: Frame) -> FrameFaces:
        boxes = self.detector.detect(frame.image)
        if not boxes:
            return FrameFaces(frame.timestamp, [], np.zeros((0, len(EMOTIONS)), np.float32))
        # All faces of the frame go through the classifier as one batch.
        probabilities = self.classifier.predict([crop_face(frame.image, b, self.margin) for b in boxes])
        return FrameFaces(frame.timestamp, boxes, probabilities)


def make_aggregator(config: Config) -> MinuteAggregator:
    e = config.engagement
    return MinuteAggregator(
        config.sample_fps,
        e.weights,
        high_band=e.high_band,
        low_band=e.low_band,
        min_faces=config.privacy.min_faces,
    )


def analyze(
    source: FrameSource,
    store: Store,
    config: Config,
    analyzer: FrameAnalyzer,
    name: str | None = None,
    new: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> AnalysisResult:
    """Analyse a finite source into a new session and return it.

    The same video file analysed before (by content hash) returns the existing completed session
    unless ``new``; an earlier partial/failed/interrupted analysis of it is replaced.
    Raises SourceError (after marking the session partial) when the source fails half-way, and
    NoFacesFound (after completing the session) when no face was seen at all. ``stop``, once set, ends
    the analysis after the current frame: the session is marked partial and KeyboardInterrupt raised.
    """
    # The same video under another name is the same session: identify it by its bytes.
    content_hash = file_sha256(Path(source.uri)) if source.kind == "video" else None
    if content_hash and not new:
        existing = store.find_by_hash(content_hash)
        if existing is not None and existing.status == "completed":
            return AnalysisResult(existing, 0, 0, existing.minutes, skipped_existing=True)
        if existing is not None:
            store.delete_session(existing.id)

    session_id = store.create_session(
        name=name or source.name,
        source=source.uri,
        kind=source.kind,
        sample_fps=config.sample_fps,
        model=analyzer.classifier.name,
        config=json.loads(config.model_dump_json()),
        content_hash=content_hash,
    )
    aggregator = make_aggregator(config)
    frames = faces = minutes = 0
    last_timestamp = 0.0

    def commit(metrics) -> None:
        nonlocal minutes
        if metrics is not None:
            store.add_minute(session_id, metrics)
            minutes += 1

    try:
        for frame in prefetch(source.frames(config.sample_fps)):
            result = analyzer.analyze(frame)
            frames += 1
            faces += len(result.boxes)
            last_timestamp = frame.timestamp
            for closed in aggregator.add(result):
                commit(closed)
            if on_progress:
                on_progress(Progress(frame.timestamp, source.duration, frames, faces, minutes))
            if stop is not None and stop.is_set():
                raise KeyboardInterrupt  # a requested stop ends the run the way Ctrl-C does
    except SourceError as exc:
        commit(aggregator.finish())
        detail = f"{exc} (kept {minutes} finished minute{'s' * (minutes != 1)})"
        store.finish_session(session_id, "partial", detail=detail, media_duration_s=last_timestamp)
        raise SourceError(f"{detail}; session #{session_id} marked partial") from None
    except BaseException:
        # Ctrl-C or an unexpected error: keep what is finished and say so in the session.
        commit(aggregator.finish())
        store.finish_session(
            session_id, "partial", detail="stopped before the end of the source", media_duration_s=last_timestamp
        )
        raise
    commit(aggregator.finish(source.sampling_end(config.sample_fps)))
    if frames == 0:
        store.finish_session(session_id, "failed", detail="no frame could be decoded", media_duration_s=0.0)
        raise SourceError(f"no frame could be decoded from {source.uri}")
    store.finish_session(session_id, "completed", media_duration_s=source.duration or last_timestamp)
    session = store.get_session(session_id)
    if faces == 0:
        raise NoFacesFound(
            f"no faces found in {source.uri} ({frames} frames sampled); faces must be at least "
            f"{config.detector.min_face} px tall and mostly frontal (session #{session_id} kept)"
        )
    return AnalysisResult(session, frames, faces, minutes)
