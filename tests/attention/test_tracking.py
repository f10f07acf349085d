"""Anonymous face tracks (engage.attention.tracking) and what the attention stage makes of them."""

from __future__ import annotations

import numpy as np
import pytest

from engage.attention.stage import AttentionStage, ReferenceSettings
from engage.attention.tracking import UNTRACKED, FaceTracker
from engage.minutes.aggregate import MinuteAggregator
from engage.minutes.shares import load_share_calibration
from engage.types import Box, FrameFaces, HeadPose

WEIGHTS = {"neutral": 0.9, "happy": 0.6, "surprise": 0.6, "sad": 0.3, "fear": 0.3, "angry": 0.25, "disgust": 0.2}
HAPPY = np.array([[0.05, 0.0, 0.05, 0.8, 0.05, 0.0, 0.05]], np.float32)
NEUTRAL = np.array([[0.05, 0.0, 0.1, 0.05, 0.1, 0.0, 0.7]], np.float32)


def test_faces_keep_their_track_and_a_track_survives_one_missed_detection() -> None:
    tracker = FaceTracker(sample_fps=1.0, lost_s=3.0)
    left, right = Box(0, 0, 40, 40, 0.9), Box(100, 0, 40, 40, 0.9)
    first = tracker.update([left, right])
    assert first[0] != first[1] and (first > 0).all()
    moved = Box(103, 2, 40, 40, 0.9)  # the person on the right leaned a little
    assert list(tracker.update([moved, left])) == [first[1], first[0]]
    assert list(tracker.update([left])) == [first[0]]  # the right face was missed once
    assert list(tracker.update([left, Box(101, 1, 40, 40, 0.9)])) == list(first)  # ... and keeps its id


def test_a_face_that_arrives_later_is_confirmed_on_its_second_sample_with_a_new_id() -> None:
    tracker = FaceTracker(sample_fps=2.0)
    a = Box(0, 0, 40, 40, 0.9)
    (first,) = tracker.update([a])
    newcomer = Box(300, 300, 40, 40, 0.9)
    assert list(tracker.update([a, newcomer])) == [first, UNTRACKED]
    ids = tracker.update([a, newcomer])
    assert ids[0] == first and ids[1] not in (first, UNTRACKED)
    assert len(tracker.update([])) == 0


def test_a_track_is_dropped_after_lost_s_and_comes_back_as_someone_new() -> None:
    tracker = FaceTracker(sample_fps=1.0, lost_s=2.0)
    a = Box(0, 0, 40, 40, 0.9)
    (first,) = tracker.update([a])
    for _ in range(4):
        tracker.update([])
    assert tracker.update([a])[0] != first


def faces(t: float, boxes: list[Box], probabilities: np.ndarray, poses: list[HeadPose | None]) -> FrameFaces:
    return FrameFaces(t, boxes, probabilities, poses=poses)


def test_pose_is_the_median_and_emotions_the_mean_of_a_tracks_last_samples() -> None:
    stage = AttentionStage(1.0, smoothing_samples=3, reference=ReferenceSettings(fixed=(0.0, 0.0)))
    box = Box(10, 10, 50, 50, 0.9)
    yaws = [0.0, 4.0, 60.0, 2.0]  # one wild pose (a detector glitch) among steady ones
    probs = [HAPPY, HAPPY, NEUTRAL, NEUTRAL]
    out = [
        stage.update(faces(float(t), [box], p, [HeadPose(y, 0.0, 0.0)]))
        for t, (y, p) in enumerate(zip(yaws, probs, strict=True))
    ]
    assert [o.poses[0].yaw for o in out] == [0.0, 2.0, 4.0, 4.0]
    assert [o.states[0] for o in out] == ["facing"] * 4  # the glitch does not turn the face away
    assert np.allclose(out[2].probabilities[0], (2 * HAPPY[0] + NEUTRAL[0]) / 3)
    assert len({int(o.tracks[0]) for o in out}) == 1


def test_the_reference_follows_the_class_but_a_writing_class_does_not_become_it() -> None:
    stage = AttentionStage(1.0, reference=ReferenceSettings(window_s=60, pitch_limit_deg=15, min_reference_samples=4))
    assert stage.reference == (0.0, 0.0)  # the camera's direction until enough faces were seen
    boxes = [Box(100 * i, 0, 40, 40, 0.9) for i in range(4)]
    for t in range(5):  # the class looks 30 degrees to the camera's side (the board) and well down (writing)
        out = stage.update(faces(float(t), boxes, np.repeat(NEUTRAL, 4, 0), [HeadPose(30.0, -45.0, 0.0)] * 4))
    yaw, pitch = stage.reference
    assert yaw == 30.0 and pitch == -15.0
    assert out.states == ["down"] * 4


def test_a_face_without_pose_is_readable_with_no_state() -> None:
    stage = AttentionStage(1.0)
    out = stage.update(faces(0.0, [Box(0, 0, 40, 40, 0.9)], HAPPY, [None]))
    assert out.states == [None] and out.readable.tolist() == [True] and out.tracks.tolist() == [1]


def two_people_minute(shares: object, same_place: bool) -> object:
    """60 samples of two people: one reads happy, one neutral, every sample alike; at fixed places, or at new
    places every sample (as if 120 different people)."""
    stage = AttentionStage(1.0)
    aggregator = MinuteAggregator(1.0, WEIGHTS, shares=shares)
    for t in range(60):
        shift = 0 if same_place else 60 * t
        boxes = [Box(shift, 0, 40, 40, 0.9), Box(shift, 500, 40, 40, 0.9)]
        aggregator.add(stage.update(FrameFaces(float(t), boxes, np.concatenate([HAPPY, NEUTRAL]))))
    return aggregator.finish()


def test_two_people_seen_for_a_minute_are_two_readings_of_the_class_not_120() -> None:
    shares = load_share_calibration()
    assert shares is not None
    two = two_people_minute(shares, same_place=True)
    many = two_people_minute(shares, same_place=False)
    assert two.people == 2
    assert two.emotion_mean == pytest.approx(many.emotion_mean) and two.engagement == pytest.approx(many.engagement)
    assert two.engagement_high90 - two.engagement_low90 > 3 * (many.engagement_high90 - many.engagement_low90)
    e = "neutral"
    width_two = two.emotion_corrected_high90[e] - two.emotion_corrected_low90[e]
    width_many = many.emotion_corrected_high90[e] - many.emotion_corrected_low90[e]
    assert width_two > 0.4 and width_two > 2.5 * width_many


def test_the_shipped_configuration_uses_the_measured_thresholds() -> None:
    from engage.attention.states import DEFAULT_THRESHOLDS
    from engage.config import load_config

    stage = AttentionStage.from_config(load_config())
    assert stage.thresholds == DEFAULT_THRESHOLDS
