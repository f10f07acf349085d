"""Attention state of a face from its head pose: facing (the class's reference direction), down, or away;
and whether the face is frontal enough to the camera for the expression model to read it.

All angles are in degrees in engage.types.HeadPose's convention (yaw > 0: the person turns to their own right;
pitch > 0: up). The reference is the (yaw, pitch) the class faces when it attends (the board, the teacher):
the tracking stage estimates it per session; (0, 0) is a class facing the camera.

The defaults were chosen with benchmarks/head_pose.py on Pointing'04 (held-out subjects; labels on a 15-degree
grid of yaw and on pitch 0, +-15, +-30, +-60). Each threshold sits between grid values, so no labelled pose lies
on a boundary, where a degree of estimation error would flip its label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engage.types import ATTENTION_STATES, HeadPose

FACING, DOWN, AWAY = ATTENTION_STATES


@dataclass(frozen=True, slots=True)
class AttentionThresholds:
    """Where facing ends, what counts as looking down, and how frontal a readable face must be."""

    # The cone around the reference direction: the angle between the head's and the reference's directions.
    # 25 keeps labelled poses at (+-15, +-15) (21.2 degrees off) inside and those 30 off outside; eyes cover the
    # rest of a glance at the board (people turn their heads for only part of a gaze shift).
    facing_cone_deg: float = 25.0
    # Down: pitched down more than this below the reference (reading, writing, a phone) ...
    down_pitch_deg: float = 20.0
    # ... and turned aside from the reference by at most this much in yaw (else "away").
    down_max_yaw_deg: float = 40.0
    # Readable: frontal enough to the camera for the expression model (relative to the camera, not the
    # reference). On Pointing'04 the model's output at a pose differs from the same person's frontal image by a
    # total-variation distance of 0.12-0.21 within |yaw| 30 and |pitch| 15 (two frontal images of one person: 0.12;
    # same top emotion 87-97%), 0.20-0.32 at |yaw| 45 or |pitch| 30 (67-93%) and 0.3-0.5 beyond
    # (benchmarks/head_pose.py, "expression model" table): the limits sit between those grid values.
    readable_yaw_deg: float = 37.5
    readable_pitch_down_deg: float = 22.5
    readable_pitch_up_deg: float = 22.5

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not 0.0 <= value <= 180.0:
                raise ValueError(f"{name} must be between 0 and 180 degrees, not {value}")


DEFAULT_THRESHOLDS = AttentionThresholds()


def angle_between(yaw: np.ndarray, pitch: np.ndarray, ref_yaw: float, ref_pitch: float) -> np.ndarray:
    """The angle in degrees between head directions (yaw, pitch) and the reference direction."""
    y, p = np.radians(np.asarray(yaw, np.float64)), np.radians(np.asarray(pitch, np.float64))
    ry, rp = np.radians(ref_yaw), np.radians(ref_pitch)
    cos = np.cos(p) * np.cos(rp) * np.cos(y - ry) + np.sin(p) * np.sin(rp)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def attention_states(
    yaw: np.ndarray,
    pitch: np.ndarray,
    reference: tuple[float, float] = (0.0, 0.0),
    t: AttentionThresholds = DEFAULT_THRESHOLDS,
) -> np.ndarray:
    """The state of each face, as an (N,) array of ATTENTION_STATES strings.

    facing: within t.facing_cone_deg of the reference; else down: pitched more than t.down_pitch_deg below the
    reference and within t.down_max_yaw_deg of its yaw; else away.
    """
    yaw, pitch = np.asarray(yaw, np.float64), np.asarray(pitch, np.float64)
    ref_yaw, ref_pitch = reference
    facing = angle_between(yaw, pitch, ref_yaw, ref_pitch) <= t.facing_cone_deg
    down = (pitch < ref_pitch - t.down_pitch_deg) & (np.abs(yaw - ref_yaw) <= t.down_max_yaw_deg)
    return np.where(facing, FACING, np.where(down, DOWN, AWAY))


def attention_state(
    pose: HeadPose, reference: tuple[float, float] = (0.0, 0.0), t: AttentionThresholds = DEFAULT_THRESHOLDS
) -> str:
    """facing, down or away (see attention_states)."""
    return str(attention_states(np.array([pose.yaw]), np.array([pose.pitch]), reference, t)[0])


def readable_mask(yaw: np.ndarray, pitch: np.ndarray, t: AttentionThresholds = DEFAULT_THRESHOLDS) -> np.ndarray:
    """(N,) bool: frontal enough to the camera for the expression model."""
    yaw, pitch = np.asarray(yaw, np.float64), np.asarray(pitch, np.float64)
    return (
        (np.abs(yaw) <= t.readable_yaw_deg) & (pitch >= -t.readable_pitch_down_deg) & (pitch <= t.readable_pitch_up_deg)
    )


def is_readable(pose: HeadPose, t: AttentionThresholds = DEFAULT_THRESHOLDS) -> bool:
    """Whether the face is frontal enough to the camera for the expression model (see readable_mask)."""
    return bool(readable_mask(np.array([pose.yaw]), np.array([pose.pitch]), t)[0])
