"""Classify the faces in still photos (`engage classify`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engage.config import Config
from engage.emotions import EMOTIONS
from engage.types import Box


@dataclass
class FaceResult:
    box: list[int]  # x, y, w, h in image pixels
    label: str
    emotions: dict[str, float]

    def to_dict(self) -> dict:
        return {"box": self.box, "label": self.label, "emotions": self.emotions}


@dataclass
class ImageResult:
    path: str
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        data: dict = {"path": self.path, "faces": [f.to_dict() for f in self.faces]}
        if self.error:
            data["error"] = self.error
        return data


def read_image(path: Path) -> np.ndarray:
    """Read an image as BGR; raises ValueError with a short reason when it cannot."""
    if not path.exists():
        raise ValueError("no such file")
    if path.is_dir():
        raise ValueError("is a folder, not an image")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError("not a readable image (JPEG, PNG, WebP, BMP or TIFF)")
    return image


def face_results(boxes: list[Box], probabilities: np.ndarray) -> list[FaceResult]:
    results = []
    for box, p in zip(boxes, probabilities, strict=True):
        emotions = {e: round(float(v), 4) for e, v in zip(EMOTIONS, p, strict=True)}
        results.append(FaceResult(box.as_list(), EMOTIONS[int(np.argmax(p))], emotions))
    return results


def classify_images(paths: Iterable[Path], config: Config, whole_image: bool = False) -> Iterator[ImageResult]:
    """Yield one result per path; a file that cannot be read yields a result with ``error``."""
    from engage.pipeline import FrameAnalyzer
    from engage.types import Frame

    analyzer = FrameAnalyzer(config)
    for path in paths:
        try:
            image = read_image(Path(path))
        except ValueError as exc:
            yield ImageResult(str(path), error=str(exc))
            continue
        if whole_image:
            h, w = image.shape[:2]
            boxes = [Box(0, 0, w, h)]
            probabilities = analyzer.classifier.predict([image])
        else:
            found = analyzer.analyze(Frame(image, 0.0, 0))
            boxes, probabilities = found.boxes, found.probabilities
        yield ImageResult(str(path), face_results(boxes, probabilities))
