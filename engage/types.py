"""The plain data that flows between pipeline stages (frames in, typed results out), and who hears of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One sampled frame. Lives in memory only; never stored."""

    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)
    timestamp: float  # seconds: media time for files, seconds since start for live sources
    index: int  # 0-based sample number


@dataclass(frozen=True, slots=True)
class Box:
    """A face box in full-resolution pixel coordinates of the frame it came from."""

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True, slots=True)
class FrameFaces:
    """The faces found in one frame and their emotion probabilities (rows in EMOTIONS order)."""

    timestamp: float
    boxes: list[Box]
    probabilities: np.ndarray  # (len(boxes), 7) float32


class SessionListener(Protocol):
    """Told, without blocking and without raising, that a session changed: a minute committed or it finished.

    engage.sheets.mirror.SheetsMirror is one; `engage analyze`, `batch` and `record` call notify().
    """

    def notify(self, session_id: int | None = None) -> None: ...
