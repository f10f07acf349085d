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
    # Five facial landmarks as (x, y) pairs in the same pixel coordinates, in YuNet's order: the eye on the
    # image's left, the eye on the image's right, the nose tip, the mouth corner on the image's left, the one on
    # the image's right. None where the detector gives none (Haar).
    landmarks: tuple[float, ...] | None = None

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True, slots=True)
class HeadPose:
    """Head orientation in degrees. yaw > 0: the person turns to their own right (nose toward the image's
    left); pitch > 0: looking up; roll > 0: the head tilts toward the person's own right shoulder."""

    yaw: float
    pitch: float
    roll: float


ATTENTION_STATES: tuple[str, ...] = ("facing", "down", "away")


@dataclass(frozen=True, slots=True)
class FrameFaces:
    """The faces found in one frame and what was read from them, one entry per box in each field.

    The analyzer fills boxes, probabilities (rows in EMOTIONS order) and poses; the attention stage
    (engage.attention) adds the anonymous track ids, states and readability, and smooths poses and
    probabilities along each track. Fields it has not filled are None.
    """

    timestamp: float
    boxes: list[Box]
    probabilities: np.ndarray  # (len(boxes), 7) float32
    poses: list[HeadPose | None] | None = None  # None for a face without landmarks
    tracks: np.ndarray | None = None  # (len(boxes),) int64 track ids within the session; -1: not tracked yet
    states: list[str | None] | None = None  # one of ATTENTION_STATES, None where the pose is unknown
    readable: np.ndarray | None = None  # (len(boxes),) bool: frontal enough for the expression model


class SessionListener(Protocol):
    """Told, without blocking and without raising, that a session changed: a minute committed or it finished.

    engage.sheets.mirror.SheetsMirror is one; `engage analyze`, `batch` and `record` call notify().
    """

    def notify(self, session_id: int | None = None) -> None: ...
