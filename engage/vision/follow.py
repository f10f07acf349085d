"""Detect less, follow more: one session's face detector, which sweeps the whole frame only now and then.

Between full sweeps (engage.vision.sweep) each sample is searched only where faces are expected: a region
around every face of the previous sample, rescaled so the face is ``region_face`` px tall (small faces
upscaled, large ones shrunk), plus regions where the picture changed away from known faces (someone coming
in, or turning to the camera), all pasted into one mosaic that the detector reads in one call
(engage.vision.mosaic). A full sweep comes

- on the first sample, and when the frame size changes;
- when the scene changes (a cut, the camera moved, the lights): over ``SCENE_CHANGE`` of a 160 px grey
  thumbnail changed since the previous sample;
- on the sample after one where a known face was not found again in its region;
- when the regions would cost more than ``busy_share`` of a sweep (many faces, much movement);
- every ``every``-th sample: ``sweep_min`` after a sweep that found a face that was not being followed,
  doubling (up to ``sweep_max``) after each scheduled sweep that found none.

Only boxes are remembered from sample to sample (and one thumbnail), never face images: memory stays flat.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass

import cv2
import numpy as np

from engage.config import DetectorConfig
from engage.types import Box
from engage.vision.detection import FaceDetector, YuNetDetector
from engage.vision.mosaic import NO_DOWNSCALE, Region, clip_region, detect_regions, region_around
from engage.vision.sweep import SweepDetector

THUMB_WIDTH = 160  # px: a 1080p frame's thumbnail pixel is 12x12 frame px, enough to see a head move
CHANGED_LEVEL = 20  # a thumbnail pixel changed when its grey level moved by more than this (of 255)
SCENE_CHANGE = 0.5  # share of the thumbnail changed that means a new scene: sweep
SMALLEST_REGION_FACE = 0.75  # of region_face: faces the sweep read smaller are read this small in regions
BODY_BELOW = 2.5  # change down to this many face heights below a known face's top is that person moving


@dataclass(frozen=True, slots=True)
class FollowSettings:
    """How a session follows its faces (config: detector.follow, sweep_min, sweep_max, region_*)."""

    sweep_min: int = 2
    sweep_max: int = 12
    region_face: int = 40
    region_pad: float = 2.0
    region_threshold: float = 0.5
    max_upscale: float = 4.0
    busy_share: float = 0.6

    def __post_init__(self) -> None:
        if not 1 <= self.sweep_min <= self.sweep_max:
            raise ValueError(f"need 1 <= sweep_min <= sweep_max, not {self.sweep_min} and {self.sweep_max}")


def thumbnail(image: np.ndarray) -> np.ndarray:
    """The frame as a small grey image (THUMB_WIDTH px wide), for change detection."""
    height, width = image.shape[:2]
    tw = min(THUMB_WIDTH, width)
    th = max(1, round(height * tw / width))
    if width > 3 * tw and height > 3 * th:  # 3x3 samples per thumbnail pixel: a fifth of the time of all of them
        image = cv2.resize(image, (3 * tw, 3 * th), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
    if small.ndim == 3 and small.shape[2] == 1:
        small = small[:, :, 0]
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGRA2GRAY if small.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
    return small


def same_face(known: Box, found: Box) -> bool:
    """Whether ``found`` is where ``known`` could have moved: centre within one face side of it, size within 2x."""
    side = max(known.w, known.h)
    dx = abs(found.x + found.w / 2 - known.x - known.w / 2)
    dy = abs(found.y + found.h / 2 - known.y - known.h / 2)
    ratio = max(found.w, found.h) / max(side, 1)
    return dx <= side and dy <= side and 0.5 <= ratio <= 2.0


class FollowingDetector:
    """A FaceDetector for the frames of one session, in time order (see the module's docstring)."""

    def __init__(self, sweep: SweepDetector, settings: FollowSettings | None = None) -> None:
        self.sweep = sweep
        self.settings = settings or FollowSettings()
        self.name = sweep.name
        self.min_face = sweep.min_face
        self._regions = YuNetDetector(min_face=0, score_threshold=self.settings.region_threshold, max_side=NO_DOWNSCALE)
        self.known: list[Box] = []  # the faces of the previous sample
        self.every = self.settings.sweep_min  # the current sweep interval, in samples
        self.counts: Counter[str] = Counter()  # samples swept ("sweep", "sweep:REASON") and followed ("follow")
        self._thumb: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self._since = 0  # samples since the last sweep
        self._lost = False

    def detect(self, image: np.ndarray) -> list[Box]:
        if image.ndim == 3 and image.shape[2] != 3:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.shape[2] == 1 else cv2.COLOR_BGRA2BGR)
        thumb = thumbnail(image)
        reason = self._due(image.shape)
        regions: list[Region] = []
        if reason is None:
            changed = cv2.absdiff(thumb, self._thumb) > CHANGED_LEVEL
            if changed.mean() > SCENE_CHANGE:
                reason = "scene"
            else:
                regions = self._plan(image.shape, changed)
                if sum(r.area for r in regions) > self.settings.busy_share * self._sweep_area(image.shape):
                    reason = "busy"
        self._thumb, self._shape = thumb, image.shape
        return self._sweep(image, reason) if reason else self._follow(image, regions)

    # -- deciding

    def _due(self, shape: tuple[int, ...]) -> str | None:
        if self._thumb is None or shape[:2] != self._shape[:2]:
            return "new"
        if self._lost:
            return "lost"
        if self._since + 1 >= self.every:
            return "due"
        return None

    def _sweep_area(self, shape: tuple[int, ...]) -> float:
        """What a sweep would read now, in px: the frame at the detector's current scale, and its second look
        where the frame is small or small faces are known."""
        scale = self.sweep.current_side(shape) / max(shape[0], shape[1])
        area = shape[0] * shape[1] * scale * scale
        if self.sweep.small_frame_at(shape) or self._small_faces(shape):
            fine = self.sweep.scale(shape) * self.sweep.upscale
            area += shape[0] * shape[1] * fine * fine
        return area

    def _small_faces(self, shape: tuple[int, ...]) -> bool:
        scale = self.sweep.scale(shape)
        return any(b.h * scale < self.sweep.small_face for b in self.known)

    # -- the two ways of reading a sample

    def _sweep(self, image: np.ndarray, reason: str) -> list[Box]:
        found = self.sweep.detect(image, small_faces=self._small_faces(image.shape))
        # A face the sweep found that was not being followed: faces come and go unseen, so sweep often. A sweep
        # that found nothing new lets the interval double; one called for a lost face leaves it as it was.
        missed = any(not any(same_face(k, f) for k in self.known) for f in found)
        if reason in ("new", "scene") or missed:
            self.every = self.settings.sweep_min
        elif reason == "due":
            self.every = min(self.settings.sweep_max, 2 * self.every)
        self.known, self._since, self._lost = found, 0, False
        self.counts.update(("sweep", f"sweep:{reason}"))
        return found

    def _follow(self, image: np.ndarray, regions: list[Region]) -> list[Box]:
        found = detect_regions(self._regions, image, regions, self.min_face)
        # A known face not found again: gone, turned away, or moved further than its region; the next sample
        # is swept, so a face the sweep can see is missed at most this once.
        self._lost = any(not any(same_face(k, f) for f in found) for k in self.known)
        self.known = found
        self._since += 1
        self.counts["follow"] += 1
        return found

    # -- where to look

    def _plan(self, shape: tuple[int, ...], changed: np.ndarray) -> list[Region]:
        s = self.settings
        swept_at = self.sweep.current_side(shape) / max(shape[0], shape[1])
        regions = []
        for b in self.known:
            # A face is read region_face px tall, or as small as the sweep read it, down to 3/4 of that.
            face = max(b.w, b.h)
            px = min(s.region_face, max(face * swept_at, SMALLEST_REGION_FACE * s.region_face))
            regions.append(region_around(b, shape, s.region_pad, px, s.max_upscale))
        return regions + self._moved(shape, changed)

    def _moved(self, shape: tuple[int, ...], changed: np.ndarray) -> list[Region]:
        """Regions where the picture changed away from the known faces and the bodies under them."""
        height, width = shape[:2]
        th, tw = changed.shape
        fx, fy = tw / width, th / height
        mask = changed.astype(np.uint8)
        for b in self.known:
            # The face with its hair and region, and the neck and shoulders under it (three faces wide), but not
            # further down, where a face of the row in front would be.
            x0, x1 = math.floor((b.x - b.w) * fx), math.ceil((b.x + 2 * b.w) * fx)
            y0, y1 = math.floor((b.y - b.h) * fy), math.ceil((b.y + BODY_BELOW * b.h) * fy)
            mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 0
        if not mask.any():
            return []
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if self.known:
            face = statistics.median(max(b.w, b.h) for b in self.known)
            scale = min(self.settings.max_upscale, self.settings.region_face / face)
        else:  # nothing known: the sweep's scale, and its second look's where that would come
            face = min(height, width) / 8
            scale = self.sweep.scale(shape)
            if self.sweep.small_frame_at(shape):
                scale = min(scale * self.sweep.upscale, self.settings.max_upscale)
        regions = []
        for x, y, w, h, _ in stats[1:count]:
            left, top, right, bottom = x / fx - face, y / fy - face, (x + w) / fx + face, (y + h) / fy + face
            region = clip_region(left, top, right, bottom, shape, scale)
            if region is not None:
                regions.append(region)
        return regions

    def __repr__(self) -> str:
        return f"FollowingDetector(sweep={self.sweep!r}, settings={self.settings!r})"


def session_detector(detector: FaceDetector, d: DetectorConfig) -> FaceDetector:
    """The detector for one session's frames: a FollowingDetector over ``detector`` where the config says
    ``follow`` and ``detector`` is a SweepDetector (YuNet); otherwise ``detector`` itself."""
    if not d.follow or not isinstance(detector, SweepDetector):
        return detector
    settings = FollowSettings(
        sweep_min=d.sweep_min,
        sweep_max=d.sweep_max,
        region_face=d.region_face,
        region_pad=d.region_pad,
        region_threshold=d.region_threshold,
    )
    return FollowingDetector(detector, settings)
