"""The full sweep: every face in a whole frame, with a second, upscaled look where faces may be too small.

YuNet needs a face ~20-24 px tall to fire. A frame searched at its own detection scale misses smaller faces
(back rows of a low-resolution classroom camera; half-size CMU+MIT photos: recall 0.86), and the upscaled frame
alone misses large ones (full-size CMU+MIT at 2x: recall 0.92 against 0.94). So the sweep reads the frame at its
detection scale, then, where the frame is small or it found small faces (or none), again at ``upscale`` x that
scale, keeps from the second look only faces small at detection scale, and merges the two
(benchmarks/detector_accuracy.py).
"""

from __future__ import annotations

import numpy as np

from engage.config import DetectorConfig
from engage.types import Box
from engage.vision.detection import FaceDetector, YuNetDetector, make_detector
from engage.vision.mosaic import NO_DOWNSCALE, detect_scaled, merge

# Measured on CMU+MIT (benchmarks/detector_accuracy.py): a second look at 1.5x, at frames up to 480 px or where
# the first found a face under 24 px (or none), brings recall from 0.937 to 0.953 at full size and from 0.859 to
# 0.945 at half size, precision 0.97-0.98, at 1.8x the time per photo. 2x: 0.947 and 0.955 with more false
# faces; 3x loses large faces; without the small-frame rule: 0.943 and 0.937; up to 640 px or under 32 px: the
# same recall, and 720p/1080p frames of 60 px faces, read at 30 px, would get a needless second look.
DEFAULT_UPSCALE = 1.5
DEFAULT_SMALL_FRAME = 480
DEFAULT_SMALL_FACE = 24
# The upscaled frame's longer side stays within this (a 1280 px frame at detection scale 1 is read at 1920).
UPSCALE_MAX_SIDE = 1920
# Faces the first look sees well (this tall at detection scale) are taken from it alone.
KEEP_BELOW = 64


class SweepDetector:
    """A full-frame detector (``base``, any FaceDetector) with the upscaled second look (YuNet).

    ``max_side`` is the base detector's detection scale (frames larger are shrunk to it): face and frame sizes
    are judged at that scale. ``upscale`` 1 turns the second look off.
    """

    def __init__(
        self,
        base: FaceDetector,
        *,
        min_face: int,
        score_threshold: float,
        max_side: int,
        upscale: float = DEFAULT_UPSCALE,
        small_frame: int = DEFAULT_SMALL_FRAME,
        small_face: int = DEFAULT_SMALL_FACE,
    ) -> None:
        if upscale < 1:
            raise ValueError(f"upscale must be >= 1, not {upscale}")
        self.base = base
        self.name = base.name
        self.min_face, self.score_threshold, self.max_side = min_face, score_threshold, max_side
        self.upscale, self.small_frame, self.small_face = upscale, small_frame, small_face
        self._fine: YuNetDetector | None = None
        self.second_looks = 0  # how many frames got the upscaled look (benchmarks report it)

    def scale(self, shape: tuple[int, ...]) -> float:
        """Detection px per frame px for a frame of ``shape``."""
        return min(1.0, self.max_side / max(shape[0], shape[1], 1))

    def current_side(self, shape: tuple[int, ...]) -> int:
        """The longer side the base detector reads a frame of ``shape`` at, now (its coarse scale, if it has one
        and is using it)."""
        side = getattr(self.base, "max_side", None) or self.max_side
        return min(side, max(shape[0], shape[1]))

    def small_frame_at(self, shape: tuple[int, ...]) -> bool:
        """Whether a frame of ``shape`` is small at detection scale (a second look comes whatever was found)."""
        return self.upscale > 1 and max(shape[0], shape[1]) * self.scale(shape) <= self.small_frame

    def needs_second_look(self, shape: tuple[int, ...], found: list[Box], small_faces: bool = False) -> bool:
        """Whether faces may be too small here: a small frame, a face under ``small_face`` px, or none found."""
        if self.upscale <= 1:
            return False
        if self.small_frame_at(shape) or small_faces or not found:
            return True
        return min(b.h for b in found) * self.scale(shape) < self.small_face

    def detect(self, image: np.ndarray, small_faces: bool = False) -> list[Box]:
        """Every face in the frame; ``small_faces``: the caller knows of small faces here (look twice)."""
        found = self.base.detect(image)
        if not self.needs_second_look(image.shape, found, small_faces):
            return found
        scale = self.scale(image.shape)
        factor = min(self.upscale * scale, UPSCALE_MAX_SIDE / max(image.shape[0], image.shape[1]))
        if factor <= scale * 1.05:
            return found
        if self._fine is None:
            self._fine = YuNetDetector(min_face=0, score_threshold=self.score_threshold, max_side=NO_DOWNSCALE)
        self.second_looks += 1
        keep_below = KEEP_BELOW / scale
        extra = [b for b in detect_scaled(self._fine, image, factor, self.min_face) if b.h < keep_below]
        return merge(found + extra)

    def __repr__(self) -> str:
        return (
            f"SweepDetector(base={self.base!r}, upscale={self.upscale}, small_frame={self.small_frame}, "
            f"small_face={self.small_face})"
        )


def sweep_detector(d: DetectorConfig) -> FaceDetector:
    """The full-frame detector of the ``detector`` config section: YuNet with its upscaled second look (Haar as
    it is)."""
    base = make_detector(
        d.name,
        min_face=d.min_face,
        score_threshold=d.score_threshold,
        max_side=d.max_side,
        fast_side=d.fast_side,
        check_every=d.check_every,
    )
    if d.name != "yunet":
        return base
    return SweepDetector(
        base,
        min_face=d.min_face,
        score_threshold=d.score_threshold,
        max_side=d.max_side,
        upscale=d.upscale,
        small_frame=d.small_frame,
        small_face=d.small_face,
    )
