"""Detection in parts of a frame: regions of a frame, each rescaled, pasted into one mosaic image that the
detector reads in one call, and the faces it finds mapped back to the frame (boxes and landmarks).

A region around a face that was seen before is scaled so the face is about ``face_px`` tall in the mosaic:
small faces are upscaled (the detector needs ~20-24 px to fire, 40 px to fire reliably), large ones shrunk
(cheaper). The whole frame rescaled is the one-region case (``detect_scaled``). Mosaics live in memory only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from engage.types import Box

GAP = 8  # px of plain gray between tiles (and around the mosaic), so no face straddles two tiles
FILL = 128
# YuNet runs on the mosaic as it is: never downscale it (the detector's own max_side would).
NO_DOWNSCALE = 1 << 16


@dataclass(frozen=True, slots=True)
class Region:
    """A rectangle of the frame (full-resolution px) and its scale in the mosaic (mosaic px per frame px)."""

    x: int
    y: int
    w: int
    h: int
    scale: float

    @property
    def area(self) -> float:
        """Its area in the mosaic, px."""
        return self.w * self.h * self.scale * self.scale


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a region's tile sits in the mosaic (x, y, w, h in mosaic px)."""

    region: Region
    x: int
    y: int
    w: int
    h: int

    def holds(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h


def clip_region(x0: float, y0: float, x1: float, y1: float, shape: tuple[int, ...], scale: float) -> Region | None:
    """The part of the rectangle [x0, x1) x [y0, y1) inside a frame of ``shape``; None if nothing is."""
    height, width = shape[:2]
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if right - left < 2 or bottom - top < 2:
        return None
    return Region(left, top, right - left, bottom - top, scale)


def region_around(box: Box, shape: tuple[int, ...], pad: float, face_px: float, max_upscale: float) -> Region:
    """A square of side ``pad`` x the box's longer side, centred on the box and shifted inside the frame (cut
    only where the frame is smaller), scaled so the face is ``face_px`` tall (at most ``max_upscale`` x)."""
    height, width = shape[:2]
    face = max(box.w, box.h, 1)
    side = max(2, min(round(pad * face), width, height))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    x0 = min(max(0, round(cx - side / 2.0)), width - side)
    y0 = min(max(0, round(cy - side / 2.0)), height - side)
    return Region(x0, y0, side, side, min(max_upscale, face_px / face))


def _tile(image: np.ndarray, region: Region) -> np.ndarray:
    part = image[region.y : region.y + region.h, region.x : region.x + region.w]
    size = (max(1, round(region.w * region.scale)), max(1, round(region.h * region.scale)))
    if size == (region.w, region.h):
        return part
    interpolation = cv2.INTER_LINEAR if region.scale > 1 else cv2.INTER_AREA
    return cv2.resize(part, size, interpolation=interpolation)


def build_mosaic(image: np.ndarray, regions: Sequence[Region], gap: int = GAP) -> tuple[np.ndarray, list[Placement]]:
    """One BGR image holding every region's rescaled tile (rows of tiles, tallest first), and where each went.

    ``image`` is HxWx3 BGR or 2-D gray. With one region and ``gap`` 0 the mosaic is that region rescaled.
    """
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    tiles = [_tile(image, r) for r in regions]
    if not tiles:
        return np.full((2 * gap + 1, 2 * gap + 1, 3), FILL, np.uint8), []
    widest = max(t.shape[1] for t in tiles)
    limit = max(widest, math.ceil(math.sqrt(sum((t.shape[0] + gap) * (t.shape[1] + gap) for t in tiles))))
    order = sorted(range(len(tiles)), key=lambda i: -tiles[i].shape[0])
    spots: dict[int, tuple[int, int]] = {}
    x = y = gap
    row_height = 0
    right = 0
    for i in order:
        th, tw = tiles[i].shape[:2]
        if x > gap and x + tw > limit + gap:
            x, y, row_height = gap, y + row_height + gap, 0
        spots[i] = (x, y)
        x += tw + gap
        right = max(right, x)
        row_height = max(row_height, th)
    mosaic = np.full((y + row_height + gap, right, 3), FILL, np.uint8)
    placements = []
    for i, (tile, region) in enumerate(zip(tiles, regions, strict=True)):
        tx, ty = spots[i]
        th, tw = tile.shape[:2]
        mosaic[ty : ty + th, tx : tx + tw] = tile
        placements.append(Placement(region, tx, ty, tw, th))
    return mosaic, placements


def _back(v: float, tile_origin: int, factor: float, region_origin: int) -> float:
    """A mosaic coordinate as a frame coordinate."""
    return (v - tile_origin) / factor + region_origin


def to_frame(found: Iterable[Box], placements: Sequence[Placement], shape: tuple[int, ...], min_face: int) -> list[Box]:
    """Mosaic boxes (and landmarks) mapped back to the frame: each belongs to the tile holding its centre (a box
    centred in a gap is dropped); faces under ``min_face`` frame px tall are dropped, boxes clipped to the frame.
    Landmarks are mapped but not clipped (as YuNetDetector gives them)."""
    height, width = shape[:2]
    boxes = []
    for b in found:
        cx, cy = b.x + b.w / 2.0, b.y + b.h / 2.0
        spot = next((p for p in placements if p.holds(cx, cy)), None)
        if spot is None:
            continue
        r = spot.region
        sx, sy = spot.w / r.w, spot.h / r.h  # the factors actually applied, per axis
        if b.h / sy < min_face:
            continue
        x0, y0 = max(0, round(_back(b.x, spot.x, sx, r.x))), max(0, round(_back(b.y, spot.y, sy, r.y)))
        x1 = min(width, round(_back(b.x + b.w, spot.x, sx, r.x)))
        y1 = min(height, round(_back(b.y + b.h, spot.y, sy, r.y)))
        if x1 <= x0 or y1 <= y0:
            continue
        marks = None
        if b.landmarks is not None:
            xs = [_back(v, spot.x, sx, r.x) for v in b.landmarks[0::2]]
            ys = [_back(v, spot.y, sy, r.y) for v in b.landmarks[1::2]]
            marks = tuple(v for pair in zip(xs, ys, strict=True) for v in pair)
        boxes.append(Box(x0, y0, x1 - x0, y1 - y0, b.score, marks))
    return boxes


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area (1.0: one box lies inside the other)."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    smaller = min(a.w * a.h, b.w * b.h)
    return ix * iy / smaller if smaller > 0 else 0.0


def merge(boxes: Iterable[Box], threshold: float = 0.5) -> list[Box]:
    """The boxes without duplicates: best score first, a box that overlaps (``overlap``) a kept one by more than
    ``threshold`` is dropped. Sorted like the detectors sort: score, then top, then left."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: (-b.score, b.y, b.x)):
        if all(overlap(b, k) <= threshold for k in kept):
            kept.append(b)
    return kept


def detect_regions(detector, image: np.ndarray, regions: Sequence[Region], min_face: int) -> list[Box]:
    """Faces in ``regions`` of ``image`` with one detector call on their mosaic, in frame coordinates, merged.

    ``detector`` must not rescale what it is given (a YuNetDetector with max_side NO_DOWNSCALE, min_face 0).
    """
    if not regions:
        return []
    mosaic, placements = build_mosaic(image, regions)
    return merge(to_frame(detector.detect(mosaic), placements, image.shape, min_face))


def detect_scaled(detector, image: np.ndarray, factor: float, min_face: int) -> list[Box]:
    """Faces in the whole image rescaled by ``factor`` (upscaled when > 1), in the image's coordinates."""
    height, width = image.shape[:2]
    mosaic, placements = build_mosaic(image, [Region(0, 0, width, height, factor)], gap=0)
    return to_frame(detector.detect(mosaic), placements, image.shape, min_face)
