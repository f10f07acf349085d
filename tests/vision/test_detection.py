"""Face detection: both back ends on a real face, no faces on blank/noise, full-resolution boxes and crops."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from faces import iou
from skimage import data as skdata

from engage.errors import EngageError
from engage.types import Box
from engage.vision.detection import (
    DETECTORS,
    FaceDetector,
    HaarDetector,
    YuNetDetector,
    crop_face,
    make_detector,
)

# The astronaut's face in skimage.data.astronaut() (512x512), checked by eye.
FACE = Box(175, 60, 95, 115)
SHARED = Path(os.environ.get("ENGAGE_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")


def scaled(box: Box, k: float) -> Box:
    return Box(round(box.x * k), round(box.y * k), round(box.w * k), round(box.h * k))


def inside(box: Box, image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    return 0 <= box.x and 0 <= box.y and box.w > 0 and box.h > 0 and box.x + box.w <= w and box.y + box.h <= h


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module", params=DETECTORS)
def detector(request: pytest.FixtureRequest) -> FaceDetector:
    return make_detector(request.param, min_face=20, score_threshold=0.5, max_side=960)


def test_astronaut_has_exactly_one_face(detector: FaceDetector, astronaut: np.ndarray) -> None:
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1, boxes
    assert iou(boxes[0], FACE) > 0.5, boxes[0]
    assert 0.0 < boxes[0].score <= 1.0
    assert isinstance(detector, FaceDetector)


def test_gray_input_finds_the_same_face(detector: FaceDetector, astronaut: np.ndarray) -> None:
    boxes = detector.detect(cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY))
    assert len(boxes) == 1 and iou(boxes[0], FACE) > 0.5


def test_detection_is_deterministic(detector: FaceDetector, astronaut: np.ndarray) -> None:
    assert detector.detect(astronaut) == detector.detect(astronaut.copy())


@pytest.mark.parametrize("kind", ["black", "white", "gray", "noise"])
def test_no_faces_in_blank_or_noise(detector: FaceDetector, kind: str) -> None:
    rng = np.random.default_rng(0)
    image = {
        "black": np.zeros((360, 640, 3), np.uint8),
        "white": np.full((360, 640, 3), 255, np.uint8),
        "gray": np.full((360, 640), 128, np.uint8),
        "noise": rng.integers(0, 256, (360, 640, 3), dtype=np.uint8),
    }[kind]
    assert detector.detect(image) == []


@pytest.mark.parametrize("cls", [YuNetDetector, HaarDetector])
def test_downscaled_detection_returns_full_resolution_boxes(cls: type, astronaut: np.ndarray) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    boxes = cls(min_face=20, max_side=640).detect(big)
    assert boxes and all(inside(b, big) for b in boxes)
    best = max(boxes, key=lambda b: iou(b, scaled(FACE, 4)))
    assert iou(best, scaled(FACE, 4)) > 0.5, best
    assert best.h > 300  # the face is ~460 px tall at full resolution, ~145 px where it was detected


def test_min_face_is_in_full_resolution_pixels(astronaut: np.ndarray) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    assert YuNetDetector(min_face=400, max_side=640).detect(big)  # ~455 px tall at full resolution
    assert YuNetDetector(min_face=500, max_side=640).detect(big) == []


def test_non_contiguous_input_is_read_correctly(astronaut: np.ndarray) -> None:
    mirrored = astronaut[:, ::-1]  # a view with negative strides
    boxes = YuNetDetector().detect(mirrored)
    assert len(boxes) == 1
    assert iou(boxes[0], Box(512 - FACE.x - FACE.w, FACE.y, FACE.w, FACE.h)) > 0.5


def test_faces_cut_by_the_border_are_clipped(astronaut: np.ndarray) -> None:
    part = astronaut[90:, 215:]  # the face runs off the top-left corner
    boxes = YuNetDetector(score_threshold=0.3).detect(part)
    assert boxes and (boxes[0].x, boxes[0].y) == (0, 0)  # YuNet's raw box starts at negative x and y
    for det in (YuNetDetector(score_threshold=0.3), HaarDetector(min_neighbors=2)):
        assert all(inside(b, part) for b in det.detect(part))


def test_yunet_landmarks_lie_on_the_face(astronaut: np.ndarray) -> None:
    """Five (x, y) pairs in YuNet's order: eye on the image's left, eye on the right, nose tip, mouth corners."""
    (box,) = YuNetDetector().detect(astronaut)
    assert box.landmarks is not None and len(box.landmarks) == 10
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = np.reshape(box.landmarks, (5, 2))
    assert all(
        box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h for x, y in np.reshape(box.landmarks, (5, 2))
    )
    assert lx < nx < rx and mlx < nx < mrx  # left to right
    assert max(ly, ry) < ny < min(mly, mry)  # eyes above the nose tip, the nose tip above the mouth corners
    assert 0.3 * box.w < rx - lx < 0.8 * box.w


def test_yunet_landmarks_are_in_full_resolution_pixels(astronaut: np.ndarray) -> None:
    (small,) = YuNetDetector().detect(astronaut)
    (big,) = YuNetDetector(max_side=640).detect(cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR))
    points = np.reshape(big.landmarks, (5, 2))
    assert np.all((points >= [big.x, big.y]) & (points <= [big.x + big.w, big.y + big.h]))
    assert np.allclose(np.array(big.landmarks) / 4, small.landmarks, atol=0.08 * small.w)  # detected at 640 vs 512


def test_landmarks_of_a_face_cut_by_the_border_are_not_clipped(astronaut: np.ndarray) -> None:
    part = astronaut[90:, 215:]  # the face runs off the top-left corner
    (box,) = YuNetDetector(score_threshold=0.3).detect(part)
    assert (box.x, box.y) == (0, 0) and box.landmarks is not None
    assert min(box.landmarks[0::2]) < 0 < box.landmarks[2]  # a mouth corner left of the frame, kept there


def test_haar_gives_no_landmarks(astronaut: np.ndarray) -> None:
    assert [b.landmarks for b in HaarDetector().detect(astronaut)] == [None]


def test_crop_face_is_square_inside_and_full_resolution(astronaut: np.ndarray) -> None:
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    (box,) = YuNetDetector(max_side=640).detect(big)
    crop = crop_face(big, box, margin=0.1)
    assert crop.shape[0] == crop.shape[1] == round(max(box.w, box.h) * 1.2)
    assert crop.shape[2] == 3 and np.shares_memory(crop, big)
    assert crop.shape[0] > 400  # cut from the 2048 px frame, not the 640 px detection image


@pytest.mark.parametrize(
    "box",
    [Box(0, 0, 40, 40), Box(600, 330, 40, 30), Box(-5, 100, 30, 50), Box(0, 0, 640, 360), Box(100, 100, 900, 900)],
)
def test_crop_face_near_borders_stays_square_and_inside(box: Box) -> None:
    image = np.arange(360 * 640 * 3, dtype=np.uint32).astype(np.uint8).reshape(360, 640, 3)
    crop = crop_face(image, box, margin=0.25)
    assert crop.shape[0] == crop.shape[1] > 0
    assert crop.shape[0] <= 360 and crop.base is not None


def test_crop_face_default_margin_is_tight_square() -> None:
    image = np.zeros((200, 200), np.uint8)
    crop = crop_face(image, Box(50, 40, 60, 80))
    assert crop.shape == (80, 80)


def test_make_detector_names() -> None:
    assert isinstance(make_detector("yunet", min_face=10, score_threshold=0.6, max_side=640), YuNetDetector)
    assert isinstance(make_detector(" HAAR ", min_face=10, score_threshold=0.6, max_side=640), HaarDetector)
    with pytest.raises(EngageError, match="yunet, haar"):
        make_detector("mtcnn", min_face=10, score_threshold=0.5, max_side=640)


@pytest.mark.parametrize("kwargs", [{"min_face": -1}, {"score_threshold": 1.5}, {"max_side": 10}])
def test_make_detector_rejects_bad_settings(kwargs: dict) -> None:
    settings = {"min_face": 20, "score_threshold": 0.5, "max_side": 960} | kwargs
    with pytest.raises(EngageError):
        make_detector("yunet", **settings)


def test_detect_rejects_non_images() -> None:
    with pytest.raises(ValueError):
        YuNetDetector().detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError):
        HaarDetector().detect(np.zeros((10, 10, 2), np.uint8))


@pytest.mark.skipif(
    not (SHARED / "face_detect" / "images" / "class57.jpg").is_file(),
    reason=f"shared face-detection data not found at {SHARED} (set ENGAGE_DATA)",
)
def test_class_photo_small_faces() -> None:
    image = cv2.imread(str(SHARED / "face_detect" / "images" / "class57.jpg"))
    boxes = make_detector("yunet", min_face=20, score_threshold=0.5, max_side=960).detect(image)
    assert 52 <= len(boxes) <= 62  # 57 people, faces ~30-50 px
    assert all(inside(b, image) for b in boxes)


def _crowd_frame(patch_height: int, count: int = 40) -> np.ndarray:
    """A 1280x720 frame of `count` real faces (astronaut head and shoulders) `patch_height` px tall."""
    face = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)[0:260, 120:340]
    small = cv2.resize(face, (int(220 * patch_height / 260), patch_height), interpolation=cv2.INTER_AREA)
    frame = np.full((720, 1280, 3), 120, np.uint8)
    for i in range(count):
        y, x = 100 + (i // 10) * 120, 60 + (i % 10) * 120
        frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


def test_adaptive_scale_stays_coarse_for_large_faces_and_switches_for_small_ones():
    from engage.vision.detection import AdaptiveScaleDetector

    large = _crowd_frame(220, count=4)
    detector = make_detector("yunet", max_side=960, fast_side=640, check_every=3)
    assert isinstance(detector, AdaptiveScaleDetector)
    assert [len(detector.detect(large)) for _ in range(6)] == [4] * 6
    assert not detector.escalated and detector.max_side == 640  # the scale it reads frames at now

    crowd = _crowd_frame(40)
    detector = make_detector("yunet", max_side=960, fast_side=640, check_every=3)
    coarse_only = len(make_detector("yunet", max_side=640).detect(crowd))
    found = [len(detector.detect(crowd)) for _ in range(4)]
    assert detector.escalated and detector.max_side == 960
    assert min(found) > coarse_only  # every frame, including the unchecked ones, used the full scale


def test_fast_side_zero_or_above_max_side_means_a_single_scale():
    assert isinstance(make_detector("yunet", max_side=960, fast_side=0), YuNetDetector)
    assert isinstance(make_detector("haar", max_side=640, fast_side=960), HaarDetector)


def test_yunet_does_not_leak_memory_per_frame():
    """yuface's own wrapper leaked a 36 KB buffer per call (260 MB over a 2-hour video at 1 fps)."""

    def resident_mb() -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    if not Path("/proc/self/statm").exists():
        pytest.skip("needs /proc to read resident memory")
    frame = cv2.resize(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR), (256, 256))
    detector = YuNetDetector(max_side=256)
    for _ in range(50):
        detector.detect(frame)
    before = resident_mb()
    for _ in range(400):
        assert len(detector.detect(frame)) == 1
    assert resident_mb() - before < 4  # the leak would add ~14.7 MB here
    assert detector.binding == "facedetect_cnn"


@pytest.fixture
def unbound_yuface(monkeypatch: pytest.MonkeyPatch):
    """Make the direct libfacedetection binding unavailable for the detectors built in the test."""
    from engage.vision import detection

    def unbind(**attributes: str) -> None:
        for name, value in attributes.items():
            monkeypatch.setattr(detection, name, value)
        detection._facedetect_cnn.cache_clear()

    yield unbind
    detection._facedetect_cnn.cache_clear()  # the next detector binds again (monkeypatch restores the names first)


@pytest.mark.parametrize(
    "unavailable",
    [
        {"_FACEDETECT_CNN": "_Z20no_such_entry_pointv"},  # a yuface whose library lacks the symbol
        {"VERIFIED_YUFACE": "2099.1."},  # a yuface release the binding was not checked against
    ],
    ids=["missing-symbol", "unverified-release"],
)
def test_yunet_falls_back_to_yuface_detect_with_a_warning(
    unbound_yuface, unavailable: dict, astronaut: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    bound = YuNetDetector(max_side=640)
    unbound_yuface(**unavailable)
    with caplog.at_level("WARNING", logger="engage.vision.detection"):
        fallback = YuNetDetector(max_side=640)
    assert fallback.binding == "yuface.detect"
    assert "using yuface.detect, which leaks" in caplog.text
    found = fallback.detect(astronaut)
    assert found == bound.detect(astronaut) and len(found) == 1 and iou(found[0], FACE) > 0.5
    assert found[0].landmarks is not None
    part = astronaut[90:, 215:]  # yuface.detect returns uint16: negative coordinates must not wrap to ~65535
    assert fallback.detect(part) == bound.detect(part)
    assert fallback.detect(np.zeros((64, 64, 3), np.uint8)) == []


def test_yuface_pin_matches_the_checked_release() -> None:
    """pyproject.toml allows only the yuface releases whose library the direct binding was checked against."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    from engage.vision.detection import VERIFIED_YUFACE

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    (pin,) = [Requirement(r) for r in pyproject["project"]["dependencies"] if Requirement(r).name == "yuface"]
    installed = importlib.metadata.version("yuface")
    assert installed.startswith(VERIFIED_YUFACE) and pin.specifier.contains(installed)
    next_minor = VERIFIED_YUFACE.split(".")[0] + "." + str(int(VERIFIED_YUFACE.split(".")[1]) + 1)
    assert not pin.specifier.contains(next_minor) and not pin.specifier.contains("2024.1")


class _Fixed:
    """A detector that returns the next count of its script (stand-in boxes) and counts its calls."""

    name = "scripted"

    def __init__(self, counts: list[int]) -> None:
        self.counts, self.calls = list(counts), 0

    def detect(self, image: np.ndarray) -> list[Box]:
        self.calls += 1
        return [Box(0, 0, 10, 10)] * self.counts.pop(0)


def test_adaptive_scale_goes_back_to_the_coarse_scale_after_settled_checks():
    from engage.vision.detection import AdaptiveScaleDetector

    image = np.zeros((8, 8, 3), np.uint8)
    # check frames are 0, 2, 4, 6, 8; the full scale finds one more face only on frame 0
    fast = _Fixed([3, 3, 3, 3, 3, 3, 3])
    full = _Fixed([4, 3, 3, 3, 3, 3, 3])
    detector = AdaptiveScaleDetector(fast, full, check_every=2, settle_checks=2)
    modes = []
    for _ in range(7):
        before = full.calls
        detector.detect(image)
        modes.append(detector.escalated if full.calls > before else None)
    # escalated at frame 0; frame 1 runs full; checks 2 and 4 gain nothing: back to coarse after frame 4
    assert modes[0] is True and modes[2] is True and modes[4] is False
    assert detector.escalated is False
    # full: checks 0, 2, 4, 6 and the unchecked escalated frames 1, 3; coarse: the checks and frame 5
    assert full.calls == 6 and fast.calls == 5
