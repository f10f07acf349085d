"""FrameAnalyzer: the detector and the classifier together, one frame in, its faces and emotions out."""

from __future__ import annotations

import numpy as np

from engage.config import Config
from engage.emotions import EMOTIONS
from engage.types import Frame, FrameFaces
from engage.vision.classifier import EmotionClassifier
from engage.vision.detection import FaceDetector, crop_face, make_detector


class FrameAnalyzer:
    """Detector + classifier for single frames, shared by analyze, batch, record and photos."""

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
