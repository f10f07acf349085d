"""Places: faces seen at about the same place in consecutive frames, which are most likely one person.

A minute's uncertainty must not count a student seen in 60 frames as 60 independent readings of the class:
the model's error on one face tends to stay with it. engage does not recognise anyone; it only links a box
to the box of the previous frame with faces that it overlaps most, and that overlaps it most (intersection over
union at least ``MIN_OVERLAP``), within one minute, in memory. The labels feed the design effect of
engage.minutes.shares and are dropped when the minute closes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engage.types import Box

MIN_OVERLAP = 0.3  # intersection over union for "the same place"


def overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (M, 4: x, y, w, h) with every box in ``b`` (N, 4): (M, N)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


class PlaceLinker:
    """Gives each face of a minute a place label, frame after frame (``link``)."""

    def __init__(self, min_overlap: float = MIN_OVERLAP) -> None:
        self.min_overlap = min_overlap
        self._boxes = np.zeros((0, 4))
        self._labels = np.zeros(0, np.int64)
        self._next = 0

    def link(self, boxes: Sequence[Box]) -> np.ndarray:
        """Labels for this frame's faces: the previous frame's label where a box overlaps one, else a new label."""
        current = np.array([b.as_list() for b in boxes], dtype=np.float64).reshape(-1, 4)
        labels = np.full(len(current), -1, np.int64)
        if len(current) and len(self._boxes):
            # A face takes the place of the previous box it overlaps most when that box overlaps it most too.
            iou = overlaps(self._boxes, current)
            best_previous = iou.argmax(axis=0)
            mutual = iou.argmax(axis=1)[best_previous] == np.arange(len(current))
            matched = mutual & (iou[best_previous, np.arange(len(current))] >= self.min_overlap)
            labels[matched] = self._labels[best_previous[matched]]
        new = labels < 0
        labels[new] = np.arange(self._next, self._next + int(new.sum()))
        self._next += int(new.sum())
        if len(current):  # a frame without faces keeps the last places, so a face that blinks out is found again
            self._boxes, self._labels = current, labels
        return labels
