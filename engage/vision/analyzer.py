"""FrameAnalyzer: detector, head pose and classifier together, one frame in, its faces read out.

``analyze`` reads one frame on its own (a still photo): its faces are judged without tracks, against the
camera's direction or, with enough faces, their own median direction. ``for_session`` gives the analyzer of
one session: the same models, with anonymous tracks and the class's reference direction carried from sample to
sample.
"""

from __future__ import annotations

import numpy as np

from engage.attention.pose import estimate_poses
from engage.attention.stage import AttentionStage
from engage.config import Config
from engage.emotions import EMOTIONS
from engage.types import Frame, FrameFaces
from engage.vision.classifier import EmotionClassifier
from engage.vision.detection import FaceDetector, crop_face
from engage.vision.follow import session_detector
from engage.vision.sweep import sweep_detector


class FrameAnalyzer:
    """Detector + head pose + classifier, shared by analyze, batch, record and photos."""

    def __init__(
        self, config: Config, classifier: EmotionClassifier | None = None, detector: FaceDetector | None = None
    ) -> None:
        d = config.detector
        self.config = config
        self.detector = detector or sweep_detector(d)  # a full sweep of every frame it reads
        self.classifier = classifier or EmotionClassifier(config.classifier.model, threads=config.classifier.threads)
        self.margin = d.margin

    def read(self, frame: Frame, detector: FaceDetector | None = None) -> FrameFaces:
        """The frame's faces, their head poses and emotion probabilities, before tracking (found by ``detector``,
        by default the shared full-frame one)."""
        boxes = (detector or self.detector).detect(frame.image)
        if not boxes:
            return FrameFaces(frame.timestamp, [], np.zeros((0, len(EMOTIONS)), np.float32), poses=[])
        # All faces of the frame go through the classifier as one batch.
        probabilities = self.classifier.predict([crop_face(frame.image, b, self.margin) for b in boxes])
        return FrameFaces(
            frame.timestamp, boxes, probabilities, poses=estimate_poses(boxes, frame_shape=frame.image.shape)
        )

    def analyze(self, frame: Frame) -> FrameFaces:
        """One frame on its own, read and judged (a still photo: nothing to track)."""
        return AttentionStage.from_config(self.config, track=False).update(self.read(frame))

    def for_session(self) -> SessionAnalyzer:
        """The analyzer of one session (one video, one recording): tracks carry over from frame to frame, and
        its detector follows the faces it found (engage.vision.follow)."""
        detector = session_detector(self.detector, self.config.detector)
        return SessionAnalyzer(self, AttentionStage.from_config(self.config), detector)


class SessionAnalyzer:
    """A FrameAnalyzer's models with one session's attention stage; ``analyze`` frames in time order."""

    def __init__(
        self, analyzer: FrameAnalyzer, attention: AttentionStage, detector: FaceDetector | None = None
    ) -> None:
        self.analyzer, self.attention, self.detector = analyzer, attention, detector

    @property
    def classifier(self) -> EmotionClassifier:
        return self.analyzer.classifier

    def analyze(self, frame: Frame) -> FrameFaces:
        return self.attention.update(self.analyzer.read(frame, self.detector))
