"""The full sweep: an upscaled second look finds small faces, only where faces may be small."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from faces import group_photo

from engage.config import load_config
from engage.vision.detection import YuNetDetector
from engage.vision.sweep import SweepDetector, sweep_detector

SHARED = Path(os.environ.get("ENGAGE_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")


def sweep(**overrides: object) -> SweepDetector:
    detector = sweep_detector(load_config(environ={}, overrides={"detector": overrides}).detector)
    assert isinstance(detector, SweepDetector)
    return detector


def test_a_small_frame_gets_a_second_look_that_finds_each_face_once() -> None:
    # A low-resolution camera's view: 100 real faces 11-16 px tall in a 640x352 frame.
    photo, placed = group_photo(faces=100, size=(1920, 1056), seed=1)
    frame = cv2.resize(photo, (640, 352), interpolation=cv2.INTER_AREA)
    detector = sweep()
    boxes = detector.detect(frame)
    assert detector.second_looks == 1
    centres = [((x + w / 2) / 3, (y + h / 2) / 3) for x, y, w, h in placed]
    for box in boxes:  # one box per head, its landmarks inside it
        assert sum(box.x <= cx <= box.x + box.w and box.y <= cy <= box.y + box.h + 8 for cx, cy in centres) == 1
        xs, ys = np.array(box.landmarks[0::2]), np.array(box.landmarks[1::2])
        assert (box.x - 2 <= xs).all() and (xs <= box.x + box.w + 2).all()
        assert (box.y - 2 <= ys).all() and (ys <= box.y + box.h + 2).all()
    assert len(boxes) >= 95


def test_no_second_look_where_faces_are_large() -> None:
    photo, _ = group_photo(faces=6, size=(1280, 720))
    detector = sweep()
    assert len(detector.detect(photo)) == 6
    assert detector.second_looks == 0
    assert detector.detect(np.zeros((720, 1280, 3), np.uint8)) == []  # nothing found: look again, closer
    assert detector.second_looks == 1


def test_haar_is_not_wrapped() -> None:
    assert not isinstance(
        sweep_detector(load_config(environ={}).detector.model_copy(update={"name": "haar"})), SweepDetector
    )


def test_upscale_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="upscale"):
        SweepDetector(YuNetDetector(), min_face=10, score_threshold=0.6, max_side=960, upscale=0.5)


def benchmark_faces(folder: Path) -> dict[str, list[np.ndarray]]:
    """Per image of the CMU+MIT set: each face's (eyes, mouth centre) points and box height, as rows of 7."""
    with open(folder / "boxes.csv", newline="") as f:
        boxes = list(csv.DictReader(f))
    with open(folder / "landmarks.csv", newline="") as f:
        marks = list(csv.DictReader(f))
    faces: dict[str, list[np.ndarray]] = {}
    for b, m in zip(boxes, marks, strict=True):
        points = [float(m[f"{p}_{a}"]) for p in ("left_eye", "right_eye", "mouth_center") for a in ("x", "y")]
        faces.setdefault(b["image"], []).append(np.array([*points, float(b["h"])]))
    return faces


@pytest.mark.skipif(
    not (SHARED / "face_detect" / "boxes.csv").is_file(),
    reason=f"shared face-detection data not found at {SHARED} (set ENGAGE_DATA)",
)
def test_half_size_benchmark_photos() -> None:
    """CMU+MIT at half size (the issue's target; benchmarks/detector_accuracy.py measures it in full): a face is
    found by a box holding its eyes and mouth centre, at most 1.5x its labelled height; one box per face."""
    folder = SHARED / "face_detect"
    faces = benchmark_faces(folder)
    detector = sweep(fast_side=0)  # as photos are read (engage.vision.photos)
    hits = detections = total = 0
    for path in sorted((folder / "images").glob("*.jpg")):
        image = cv2.imread(str(path))
        half = cv2.resize(image, (round(image.shape[1] / 2), round(image.shape[0] / 2)), interpolation=cv2.INTER_AREA)
        truth = [face / 2 for face in faces.get(path.name, [])]
        boxes = detector.detect(half)
        detections += len(boxes)
        total += len(truth)
        free = list(range(len(truth)))
        for box in boxes:
            for i in free:
                xs, ys, height = truth[i][0:6:2], truth[i][1:6:2], truth[i][6]
                inside = (xs >= box.x).all() and (xs <= box.x + box.w).all() and (ys >= box.y).all()
                if inside and (ys <= box.y + box.h).all() and box.h <= 1.5 * height:
                    free.remove(i)
                    hits += 1
                    break
    assert hits / total >= 0.93
    assert hits / detections >= 0.95
