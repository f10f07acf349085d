"""Face detection on full frames: a small detector interface, YuNet (yuface) and Haar back ends, and face crops.

Detectors take an HxWx3 uint8 BGR frame (or a 2-D gray one) and return `Box`es in that frame's pixel
coordinates. Large frames are downscaled for detection only; cropping happens at full resolution with
`crop_face`. Crops are in-memory arrays and are never written anywhere.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import importlib.metadata
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from engage.errors import EngageError
from engage.types import Box

log = logging.getLogger(__name__)

DETECTORS: tuple[str, ...] = ("yunet", "haar")

# Recommended defaults, chosen with benchmarks/detector_accuracy.py (CMU+MIT test set and class57.jpg).
DEFAULT_DETECTOR = "yunet"
# YuNet boxes of faces ~15 px eyes-to-mouth are 17-25 px tall; 10 also keeps the 12-15 px faces of a
# low-resolution classroom camera's back rows, which upscaling finds (engage.vision.sweep).
DEFAULT_MIN_FACE = 10
# 0.6 rather than yuface's 0.5: 40% fewer false faces for ~1% recall, no loss on small faces.
DEFAULT_SCORE_THRESHOLD = 0.6
# 640 misses most ~15 px faces in a 720p frame; 1280 finds a few more than 960 at twice the cost.
DEFAULT_MAX_SIDE = 960
# Margin 0 (a square on the box's longer side) frames a face like FER2013 does: YuNet boxes on upscaled FER2013
# faces cover the full 48 px frame in height (median 1.01) and 0.83 in width; Haar boxes 0.97 in both.
DEFAULT_CROP_MARGIN = 0.0

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@runtime_checkable
class FaceDetector(Protocol):
    """Anything that finds faces in a frame."""

    name: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an HxWx3 uint8 BGR (or 2-D gray) image, in that image's pixel coordinates."""
        ...


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("image must be a uint8 numpy array")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        raise ValueError(f"image must be HxW gray or HxWx3 BGR, got shape {image.shape}")


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2 or image.shape[2] == 1:
        return image.reshape(image.shape[:2])
    code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(image, code)


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink `image` so its longer side is at most `max_side`; return it and the factor (small / full)."""
    h, w = image.shape[:2]
    longer = max(h, w)
    if longer <= max_side:
        return image, 1.0
    scale = max_side / longer
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    # Use the per-axis factor actually applied so boxes map back exactly.
    return small, small.shape[1] / w


def _to_full_res(
    xywh: np.ndarray,
    scores: np.ndarray,
    scale: float,
    shape: tuple[int, ...],
    min_face: int,
    landmarks: np.ndarray | None = None,
) -> list[Box]:
    """Map detector boxes (and their (N, 10) landmarks, if any) back to full resolution, drop faces under
    `min_face` px tall, clip boxes to the image.

    Landmarks are scaled but not clipped: a point outside the frame (a face cut by the border) is still
    where the detector put it, and head pose wants it there.
    """
    height, width = shape[:2]
    points = None if landmarks is None else landmarks.astype(np.float64) / scale
    boxes: list[Box] = []
    for i, ((x, y, w, h), score) in enumerate(zip(xywh.astype(np.float64) / scale, scores, strict=True)):
        if h < min_face:  # the face's size, even when part of it lies outside the frame
            continue
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(width, round(x + w)), min(height, round(y + h))
        if x1 > x0 and y1 > y0:
            marks = None if points is None else tuple(float(v) for v in points[i])
            boxes.append(Box(x0, y0, x1 - x0, y1 - y0, float(score), marks))
    boxes.sort(key=lambda b: (-b.score, b.y, b.x))
    return boxes


def _validate(min_face: int, max_side: int, score_threshold: float | None = None) -> None:
    if min_face < 0:
        raise EngageError(f"min_face must be >= 0 px, not {min_face}")
    if max_side < 64:
        raise EngageError(f"max_side must be >= 64 px, not {max_side}")
    if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
        raise EngageError(f"score_threshold must be between 0 and 1, not {score_threshold}")


def _find_omp_set_num_threads() -> Callable[[int], None] | None:
    """`omp_set_num_threads` of the OpenMP runtime bundled with yuface, if it can be found."""
    import yuface

    site = os.path.dirname(os.path.dirname(os.path.abspath(yuface.__file__)))
    for pattern in ("yuface.libs/libgomp*", "yuface/.dylibs/libomp*", "yuface/.dylibs/libgomp*"):
        for path in sorted(glob.glob(os.path.join(site, pattern))):
            try:
                return ctypes.CDLL(path).omp_set_num_threads
            except (OSError, AttributeError):
                continue
    return None


# The direct call below relies on three facts about the libfacedetection inside the yuface wheel: its C++
# entry point's mangled name, its signature and its result buffer size (DETECT_BUFFER_SIZE: a count, then 16
# int16 per face, at most 1024 faces). They were checked for yuface 2023.5.x, the releases pyproject.toml
# allows; any other yuface (or one without the symbol) gets the public yuface.detect instead.
VERIFIED_YUFACE = "2023.5."
_FACEDETECT_CNN = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(unsigned char*, unsigned char*, int, int, int)
_RESULT_BUFFER_BYTES = 0x9000
_LEAK_NOTE = "yuface.detect, which leaks ~36 KB per frame (~260 MB over a 2-hour video at 1 fps)"

# C-contiguous BGR -> int16 rows of (confidence 0-100, x, y, w, h, 5 landmarks as x, y pairs, unused)
RawDetect = Callable[[np.ndarray], np.ndarray]


@functools.cache
def _facedetect_cnn() -> Callable[..., Any] | None:
    """libfacedetection's entry point in the yuface wheel, or None (logged once) where it cannot be trusted.

    `yuface.detect` mallocs a 36 KB result buffer on every call and never frees it. The bundled library's
    C++ entry point takes the buffer from its caller, so one buffer per detector keeps memory flat with
    identical results.
    """
    import yuface

    try:
        version = importlib.metadata.version("yuface")
    except importlib.metadata.PackageNotFoundError:
        version = "(unknown version)"
    if not version.startswith(VERIFIED_YUFACE):
        log.warning(
            "yuface %s is not the release engage's leak-free binding was checked against (%sx); using %s",
            version,
            VERIFIED_YUFACE,
            _LEAK_NOTE,
        )
        return None
    path = os.path.join(os.path.dirname(os.path.abspath(yuface.__file__)), "libfacedetection.so")
    try:
        function = getattr(ctypes.CDLL(path), _FACEDETECT_CNN)
    except (OSError, AttributeError) as exc:
        log.warning("yuface %s: cannot bind libfacedetection (%s); using %s", version, exc, _LEAK_NOTE)
        return None
    function.restype = ctypes.POINTER(ctypes.c_int)
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return function


def _reused_buffer_detect(function: Callable[..., Any]) -> RawDetect:
    """Detection through `function` into one result buffer owned by the returned callable."""
    buffer = np.zeros(_RESULT_BUFFER_BYTES, np.uint8)

    def detect(bgr: np.ndarray) -> np.ndarray:
        result = function(buffer.ctypes.data, bgr.ctypes.data, bgr.shape[1], bgr.shape[0], bgr.strides[0])
        count = result[0] if result else 0
        return np.frombuffer(buffer, dtype=np.int16, count=16 * count, offset=4).reshape(count, 16).copy()

    return detect


def _public_detect(bgr: np.ndarray) -> np.ndarray:
    """The same rows (confidence, x, y, w, h, 5 landmarks) through yuface's public, leaking, wrapper."""
    import yuface

    confidences, boxes, landmarks = yuface.detect(bgr, conf=0.0)
    # yuface returns uint16: the library's int16 values, so a box or landmark left of or above the frame wraps
    # round to ~65535. Casting back to int16 undoes the wrap.
    rows = np.column_stack([confidences, boxes, landmarks]).astype(np.uint16).astype(np.int16)
    return np.column_stack([rows, np.zeros(len(rows), np.int16)])  # the unused 16th column, as facedetect_cnn


def _yunet_raw_detect() -> tuple[RawDetect, str]:
    """The raw detection call for a new YuNetDetector and its name ("facedetect_cnn" or "yuface.detect")."""
    try:
        function = _facedetect_cnn()
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EngageError(f"the yunet detector needs the 'yuface' package: pip install yuface ({exc})") from None
    if function is not None:
        return _reused_buffer_detect(function), "facedetect_cnn"
    # engage downscales frames to max_side on purpose; yuface warns on every frame over 960 px.
    warnings.filterwarnings("ignore", message=r"Image size \(.*\) is too large", module="yuface")
    return _public_detect, "yuface.detect"


class YuNetDetector:
    """libfacedetection's YuNet CNN via the `yuface` wheel (weights compiled in, 5 landmarks, no downloads).

    `threads` caps its OpenMP threads for calls made from the calling thread. 1 is the default because
    OpenMP spin-waiting collapses when the cores are shared with decoding, the emotion model or other jobs
    (2 cores, 720p: 2 threads ~1.7x faster than 1 when idle but 2-5x slower under load); None leaves
    OpenMP's own setting.
    """

    name = "yunet"

    def __init__(
        self,
        min_face: int = DEFAULT_MIN_FACE,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        max_side: int = DEFAULT_MAX_SIDE,
        threads: int | None = 1,
    ) -> None:
        _validate(min_face, max_side, score_threshold)
        # binding: "facedetect_cnn" (libfacedetection with a reused buffer) or "yuface.detect" (the fallback)
        self._detect_raw, self.binding = _yunet_raw_detect()
        self.min_face = min_face
        self.score_threshold = score_threshold
        self.max_side = max_side
        self.threads = threads
        self._set_threads = _find_omp_set_num_threads() if threads is not None else None

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces scoring at least `score_threshold` (score in 0..1) and at least `min_face` px tall, with their
        five landmarks (`Box.landmarks`) in the same full-resolution coordinates."""
        _check_image(image)
        small, scale = _downscale(_to_bgr(image), self.max_side)
        if self._set_threads is not None:
            self._set_threads(self.threads)
        # The C extension reads the buffer as C-contiguous regardless of strides.
        raw = self._detect_raw(np.ascontiguousarray(small))
        # Rows: confidence (0-100), x, y, w, h, 5 landmarks as x,y pairs, one unused column.
        raw = np.asarray(raw)
        if raw.size == 0:
            return []
        scores = raw[:, 0].astype(np.float64) / 100.0
        keep = scores >= self.score_threshold
        # Landmarks in YuNet's order (engage.types.Box): eye on the image's left, eye on the image's right, nose
        # tip, mouth corner on the image's left, on the image's right.
        return _to_full_res(raw[keep, 1:5], scores[keep], scale, image.shape, self.min_face, raw[keep, 5:15])

    def __repr__(self) -> str:
        return (
            f"YuNetDetector(min_face={self.min_face}, score_threshold={self.score_threshold}, "
            f"max_side={self.max_side}, threads={self.threads})"
        )


class HaarDetector:
    """OpenCV's Viola-Jones frontal-face Haar cascade (`haarcascade_frontalface_default.xml`).

    It has no calibrated confidence, so every box scores 1.0; `min_neighbors` is its precision knob.
    Its smallest window is 24x24 px at detection resolution, so downscaling loses faces under
    24 / scale px at full resolution.
    """

    name = "haar"

    def __init__(
        self,
        min_face: int = DEFAULT_MIN_FACE,
        max_side: int = DEFAULT_MAX_SIDE,
        min_neighbors: int = 5,
        scale_factor: float = 1.1,
        equalize: bool = True,
    ) -> None:
        _validate(min_face, max_side)
        path = os.path.join(cv2.data.haarcascades, HAAR_CASCADE)
        if not hasattr(cv2, "CascadeClassifier") or not os.path.isfile(path):
            raise EngageError(f"OpenCV {cv2.__version__} has no Haar cascades; install opencv-python-headless<5")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise EngageError(f"could not load the Haar cascade {path}")
        self.min_face = min_face
        self.max_side = max_side
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor
        self.equalize = equalize

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces at least `min_face` px tall."""
        _check_image(image)
        small, scale = _downscale(_to_gray(image), self.max_side)
        if self.equalize:
            small = cv2.equalizeHist(small)
        side = max(1, int(self.min_face * scale))
        found = self._cascade.detectMultiScale(
            small, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        xywh = np.asarray(found, dtype=np.float64).reshape(-1, 4)
        return _to_full_res(xywh, np.ones(len(xywh)), scale, image.shape, self.min_face)

    def __repr__(self) -> str:
        return (
            f"HaarDetector(min_face={self.min_face}, max_side={self.max_side}, "
            f"min_neighbors={self.min_neighbors}, scale_factor={self.scale_factor}, equalize={self.equalize})"
        )


class AdaptiveScaleDetector:
    """Detect at a coarse, fast scale unless the scene needs the full one.

    Every `check_every`-th frame (the first included) is searched at both scales. When the full scale
    finds more faces (small, distant faces), the detector switches to it; it switches back only after
    `settle_checks` checks in a row where the coarse scale found as many, so one stray detection or a
    student leaving does not decide the scale for the rest of a video. Footage of a few large faces
    keeps the ~3x cheaper coarse scale; a classroom with back rows switches on its first frame.
    """

    def __init__(self, fast: FaceDetector, full: FaceDetector, check_every: int = 30, settle_checks: int = 3) -> None:
        if check_every < 1:
            raise EngageError("detector.check_every must be at least 1")
        self.name = full.name
        self.fast, self.full = fast, full
        self.check_every = check_every
        self.settle_checks = max(1, settle_checks)
        self.escalated = False
        self._frames = 0
        self._checks_without_gain = 0

    @property
    def max_side(self) -> int | None:
        """The longer side frames are read at now: the coarse scale's until the scene needed the full one."""
        return getattr(self.full if self.escalated else self.fast, "max_side", None)

    def detect(self, image: np.ndarray) -> list[Box]:
        check = self._frames % self.check_every == 0
        self._frames += 1
        if not check:
            return (self.full if self.escalated else self.fast).detect(image)
        found = self.full.detect(image)
        if len(found) > len(self.fast.detect(image)):
            self.escalated, self._checks_without_gain = True, 0
        elif self.escalated:
            self._checks_without_gain += 1
            self.escalated = self._checks_without_gain < self.settle_checks
        return found

    def __repr__(self) -> str:
        return (
            f"AdaptiveScaleDetector(fast={self.fast!r}, full={self.full!r}, check_every={self.check_every}, "
            f"settle_checks={self.settle_checks})"
        )


def make_detector(
    name: str,
    *,
    min_face: int = DEFAULT_MIN_FACE,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    max_side: int = DEFAULT_MAX_SIDE,
    fast_side: int = 0,
    check_every: int = 30,
) -> FaceDetector:
    """Build a detector by name ("yunet" or "haar"); Haar ignores `score_threshold`.

    With `fast_side` below `max_side`, frames are searched at `fast_side` unless the full scale
    proves to find more faces (see AdaptiveScaleDetector).
    """
    key = str(name).strip().lower()
    if key not in DETECTORS:
        raise EngageError(f"unknown face detector {name!r}; valid names: {', '.join(DETECTORS)}")

    def build(side: int) -> FaceDetector:
        if key == "yunet":
            return YuNetDetector(min_face=min_face, score_threshold=score_threshold, max_side=side)
        return HaarDetector(min_face=min_face, max_side=side)

    if fast_side and fast_side < max_side:
        return AdaptiveScaleDetector(build(fast_side), build(max_side), check_every)
    return build(max_side)


def crop_face(image: np.ndarray, box: Box, margin: float = DEFAULT_CROP_MARGIN) -> np.ndarray:
    """The square full-resolution crop around `box`, as a view into `image`.

    The square's side is the box's longer side grown by `margin` (a fraction of it) on each side, centred
    on the box. Where it would cross the image border it is shifted inside (and shrunk only when the image
    is smaller than it), so the crop stays square and undistorted. Copy it before modifying it.
    """
    if margin <= -0.5:
        raise ValueError(f"margin must be > -0.5, not {margin}")
    height, width = image.shape[:2]
    if box.w <= 0 or box.h <= 0 or height == 0 or width == 0:
        raise ValueError(f"cannot crop {box} from an image of shape {image.shape}")
    side = max(1, min(round(max(box.w, box.h) * (1.0 + 2.0 * margin)), height, width))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x0 = min(max(0, round(cx - side / 2.0)), width - side)
    y0 = min(max(0, round(cy - side / 2.0)), height - side)
    return image[y0 : y0 + side, x0 : x0 + side]
