"""Places (engage.minutes.tracks): one person seen in many frames is not many independent readings."""

from __future__ import annotations

import numpy as np
import pytest

from engage.minutes.aggregate import MinuteAggregator
from engage.minutes.shares import load_share_calibration
from engage.minutes.tracks import PlaceLinker, overlaps
from engage.types import Box, FrameFaces

WEIGHTS = {"neutral": 0.9, "happy": 0.6, "surprise": 0.6, "sad": 0.3, "fear": 0.3, "angry": 0.25, "disgust": 0.2}


def test_overlaps_is_intersection_over_union() -> None:
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
    assert overlaps(a, b)[0] == pytest.approx([1.0, 50 / 150, 0.0])
    assert overlaps(np.zeros((0, 4)), b).shape == (0, 3)


def test_faces_keep_their_place_from_frame_to_frame() -> None:
    linker = PlaceLinker()
    left, right, far = Box(0, 0, 40, 40), Box(100, 0, 40, 40), Box(300, 300, 40, 40)
    assert list(linker.link([left, right])) == [0, 1]
    moved = Box(104, 2, 40, 40)  # the person on the right leaned a little
    assert list(linker.link([moved, left])) == [1, 0]
    assert list(linker.link([far, left])) == [2, 0]  # someone new
    assert list(linker.link([])) == []
    assert list(linker.link([Box(2, 1, 40, 40)])) == [0]  # back after a frame without faces


def two_people_minute(shares: object, same_place: bool) -> object:
    """60 frames of two people: one reads happy, one neutral, every frame alike; at fixed places, or at new
    places every frame (as if 120 different people)."""
    happy = np.array([[0.05, 0.0, 0.05, 0.8, 0.05, 0.0, 0.05]], np.float32)
    neutral = np.array([[0.05, 0.0, 0.1, 0.05, 0.1, 0.0, 0.7]], np.float32)
    aggregator = MinuteAggregator(1.0, WEIGHTS, shares=shares)
    for t in range(60):
        shift = 0 if same_place else 60 * t
        boxes = [Box(shift, 0, 40, 40), Box(shift, 500, 40, 40)]
        aggregator.add(FrameFaces(float(t), boxes, np.concatenate([happy, neutral])))
    return aggregator.finish()


def test_two_people_seen_for_a_minute_are_two_readings_of_the_class_not_120() -> None:
    shares = load_share_calibration()
    assert shares is not None
    two = two_people_minute(shares, same_place=True)
    many = two_people_minute(shares, same_place=False)
    assert two.emotion_mean == many.emotion_mean and two.engagement == many.engagement  # same figures
    assert two.engagement_high90 - two.engagement_low90 > 3 * (many.engagement_high90 - many.engagement_low90)
    e = "neutral"
    width_two = two.emotion_corrected_high90[e] - two.emotion_corrected_low90[e]
    width_many = many.emotion_corrected_high90[e] - many.emotion_corrected_low90[e]
    assert width_two > 0.4 and width_two > 2.5 * width_many
