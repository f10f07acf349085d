"""Classify the faces in still photos (`engage classify`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engage.config import Config
from engage.emotions import EMOTIONS
from engage.sources.images import NOT_AN_IMAGE as NOT_AN_IMAGE
from engage.sources.images import decode_bgr
from engage.types import Box, FrameFaces, HeadPose


@dataclass
class FaceResult:
    box: list[int]  # x, y, w, h in image pixels
    label: str
    emotions: dict[str, float]
    pose: HeadPose | None = None  # degrees (engage.types.HeadPose); None without landmarks
    state: str | None = None  # facing / down / away against the photo's own median direction
    readable: bool = True  # frontal enough for the expression model

    def to_dict(self) -> dict:
        pose = None if self.pose is None else {k: round(getattr(self.pose, k), 1) for k in ("yaw", "pitch", "roll")}
        return {
            "box": self.box,
            "label": self.label,
            "emotions": self.emotions,
            "pose": pose,
            "state": self.state,
            "readable": self.readable,
        }


@dataclass
class ImageResult:
    path: str
    faces: list[FaceResult] = field(default_factory=list)
    error: str | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)  # only with keep_images

    def to_dict(self) -> dict:
        data: dict = {"path": self.path, "faces": [f.to_dict() for f in self.faces]}
        if self.error:
            data["error"] = self.error
        return data


# Limits for photos (the CLI's files and the dashboard's uploads alike).
MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
NO_FACE_HINT = (
    "no face found: try a clearer, frontal photo, well lit, where each face is at least "
    "{min_face} px tall and not cut off"
)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def check_image_size(size_bytes: int) -> None:
    """Raise ValueError when a file of `size_bytes` is over MAX_IMAGE_BYTES."""
    if size_bytes > MAX_IMAGE_BYTES:
        raise ValueError(f"file is {_mb(size_bytes)}, over the {MAX_IMAGE_BYTES // (1024 * 1024)} MB limit")


def _check_pixels(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise ValueError(
            f"image is {width}x{height} ({width * height / 1e6:.0f} megapixels), over the "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixel limit: scale it down first"
        )


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header without decoding the pixels, or None when Pillow cannot tell.

    Raises ValueError for an image so large that Pillow itself refuses it.
    """
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except Image.DecompressionBombError as exc:  # Pillow's own limit (~179 MP) is far above ours
        raise ValueError(
            f"image is over the {MAX_IMAGE_PIXELS // 1_000_000} megapixel limit ({exc}): scale it down first"
        ) from None
    except Exception:  # not an image Pillow knows: OpenCV decides below
        return None


def decode_image(data: bytes) -> np.ndarray:
    """Decode image bytes in memory to BGR, enforcing the size, pixel and format limits.

    The pixel count is checked from the header before decoding, so a small file claiming huge dimensions
    (a decompression bomb) is refused without allocating its pixels. Raises ValueError with a one-line reason.
    """
    check_image_size(len(data))
    size = image_dimensions(data)
    if size is not None:
        _check_pixels(*size)
    image = decode_bgr(data)  # quietly: a broken file is a ValueError, not a libpng line on stderr
    _check_pixels(image.shape[1], image.shape[0])
    return image


def read_image(path: Path) -> np.ndarray:
    """Read an image as BGR; raises ValueError with a short reason when it cannot."""
    if not path.exists():
        raise ValueError("no such file")
    if path.is_dir():
        raise ValueError("is a folder, not an image")
    if not path.is_file():  # a FIFO would block the read forever; a device never ends
        raise ValueError("not a regular file")
    try:
        check_image_size(path.stat().st_size)
        with path.open("rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)  # a file growing while it is read stays within the limit
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror})") from None
    return decode_image(data)


def photo_analyzer(config: Config):
    """A FrameAnalyzer for unrelated still photos: every photo searched at the full detection scale.

    (The video pipeline's adaptive coarse scale assumes consecutive frames of one scene.)
    """
    from engage.vision.analyzer import FrameAnalyzer

    detector = config.detector.model_copy(update={"fast_side": 0})
    return FrameAnalyzer(config.model_copy(update={"detector": detector}))


def face_results(found: FrameFaces) -> list[FaceResult]:
    """One FaceResult per face found, with its pose, state and readability where the analyzer gave them."""
    n = len(found.boxes)
    poses = found.poses if found.poses is not None else [None] * n
    states = found.states if found.states is not None else [None] * n
    readable = found.readable if found.readable is not None else [True] * n
    results = []
    for box, p, pose, state, legible in zip(found.boxes, found.probabilities, poses, states, readable, strict=True):
        emotions = {e: round(float(v), 4) for e, v in zip(EMOTIONS, p, strict=True)}
        label = EMOTIONS[int(np.argmax(p))]
        results.append(FaceResult(box.as_list(), label, emotions, pose, state, bool(legible)))
    return results


def reading_order(faces: list[FaceResult]) -> list[FaceResult]:
    """Faces in rows from top to bottom, each row left to right, so face numbers are easy to find."""
    if len(faces) < 2:
        return list(faces)
    row_gap = 0.5 * float(np.median([f.box[3] for f in faces]))
    by_centre = sorted(faces, key=lambda f: f.box[1] + f.box[3] / 2)
    rows: list[list[FaceResult]] = []
    row_top = 0.0
    for face in by_centre:
        centre = face.box[1] + face.box[3] / 2
        if not rows or centre - row_top > row_gap:
            rows.append([])
            row_top = centre
        rows[-1].append(face)
    return [face for row in rows for face in sorted(row, key=lambda f: f.box[0])]


def classify_image(image: np.ndarray, analyzer, whole_image: bool = False) -> list[FaceResult]:
    """The faces in one BGR image in reading order (or the whole image as one face), with a `photo_analyzer`."""
    from engage.types import Frame

    if whole_image:
        h, w = image.shape[:2]
        return face_results(FrameFaces(0.0, [Box(0, 0, w, h)], analyzer.classifier.predict([image])))
    return reading_order(face_results(analyzer.analyze(Frame(image, 0.0, 0))))


def classify_images(
    paths: Iterable[Path], config: Config, whole_image: bool = False, keep_images: bool = False
) -> Iterator[ImageResult]:
    """Yield one result per path; a file that cannot be read yields a result with ``error``.

    With `keep_images` each result also carries the decoded image (for annotation), until it is dropped.
    """
    analyzer = photo_analyzer(config)
    for path in paths:
        try:
            image = read_image(Path(path))
        except ValueError as exc:
            yield ImageResult(str(path), error=str(exc))
            continue
        faces = classify_image(image, analyzer, whole_image)
        yield ImageResult(str(path), faces, image=image if keep_images else None)
