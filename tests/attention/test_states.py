"""Attention states and readability from head pose: the cone, down, away, a moved reference, and thresholds
that stay off Pointing'04's 15-degree label grid."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from engage.attention.states import (
    DEFAULT_THRESHOLDS,
    AttentionThresholds,
    angle_between,
    attention_state,
    attention_states,
    is_readable,
    readable_mask,
)
from engage.types import ATTENTION_STATES, HeadPose


def pose(yaw: float, pitch: float) -> HeadPose:
    return HeadPose(yaw, pitch, 0.0)


@pytest.mark.parametrize(
    ("yaw", "pitch", "state"),
    [
        (0, 0, "facing"),
        (15, 15, "facing"),  # 21.2 degrees off
        (-24, 0, "facing"),
        (20, 20, "away"),  # 27.9 degrees off: the cone is an angle, not a box of +-25 in each
        (30, 0, "away"),
        (0, 30, "away"),  # looking up
        (0, -30, "down"),
        (-35, -45, "down"),
        (50, -45, "away"),  # down but turned far aside
        (90, 0, "away"),
    ],
)
def test_states_against_a_class_facing_the_camera(yaw: float, pitch: float, state: str) -> None:
    assert attention_state(pose(yaw, pitch), (0.0, 0.0)) == state


def test_states_follow_the_reference() -> None:
    board = (30.0, 10.0)  # the board is to the camera's side and a little up
    assert attention_state(pose(30, 10), board) == "facing"
    assert attention_state(pose(0, 0), board) == "away"
    assert attention_state(pose(30, -15), board) == "down"  # 25 below the reference
    assert attention_state(pose(30, -5), board) == "facing"


def test_vectorised_states_match_the_single_face_ones() -> None:
    rng = np.random.default_rng(3)
    yaw, pitch = rng.uniform(-90, 90, 300), rng.uniform(-70, 50, 300)
    reference = (8.0, -6.0)
    states = attention_states(yaw, pitch, reference)
    assert set(states.tolist()) == set(ATTENTION_STATES)
    assert states.tolist() == [attention_state(pose(y, p), reference) for y, p in zip(yaw, pitch, strict=True)]
    readable = readable_mask(yaw, pitch)
    assert readable.dtype == bool
    assert readable.tolist() == [is_readable(pose(y, p)) for y, p in zip(yaw, pitch, strict=True)]


def test_angle_between_directions() -> None:
    assert angle_between(np.array([0.0]), np.array([0.0]), 0, 0) == pytest.approx([0])
    assert angle_between(np.array([40.0, 0.0]), np.array([0.0, -40.0]), 0, 0) == pytest.approx([40, 40])
    assert angle_between(np.array([90.0]), np.array([0.0]), -90, 0) == pytest.approx([180])
    assert angle_between(np.array([123.0]), np.array([89.9]), 0, 89.9) == pytest.approx([0], abs=0.3)  # straight up


@pytest.mark.parametrize(
    ("yaw", "pitch", "readable"),
    [(0, 0, True), (30, -15, True), (-30, 15, True), (45, 0, False), (0, -30, False), (0, 30, False)],
)
def test_readable_is_frontal_to_the_camera(yaw: float, pitch: float, readable: bool) -> None:
    assert is_readable(pose(yaw, pitch)) is readable


def test_thresholds_are_checked_and_can_be_changed() -> None:
    with pytest.raises(ValueError, match="facing_cone_deg"):
        AttentionThresholds(facing_cone_deg=-1)
    wide = AttentionThresholds(facing_cone_deg=40, readable_yaw_deg=60)
    assert attention_state(pose(30, 0), (0, 0), wide) == "facing" and is_readable(pose(50, 0), wide)


def test_default_thresholds_sit_between_the_label_grid_values() -> None:
    """Pointing'04 labels yaw in steps of 15 and pitch at 0, +-15, +-30, +-60: no labelled pose lies on a boundary."""
    for field in dataclasses.fields(DEFAULT_THRESHOLDS):
        assert getattr(DEFAULT_THRESHOLDS, field.name) % 15 != 0, field.name
    grid = np.array(list(itertools.product(range(-90, 91, 15), (-60, -30, -15, 0, 15, 30, 60))), float)
    off = angle_between(grid[:, 0], grid[:, 1], 0, 0)
    assert np.min(np.abs(off - DEFAULT_THRESHOLDS.facing_cone_deg)) > 3
