import numpy as np
import pytest

from engage.emotions import EMOTIONS
from engage.minutes.aggregate import MinuteAggregator, engagement_index
from engage.types import Box, FrameFaces

WEIGHTS = {"neutral": 0.9, "happy": 0.6, "surprise": 0.6, "sad": 0.3, "fear": 0.3, "angry": 0.25, "disgust": 0.2}


def onehot(*labels: str) -> np.ndarray:
    p = np.zeros((len(labels), 7), np.float32)
    for i, label in enumerate(labels):
        p[i, EMOTIONS.index(label)] = 1
    return p


def frame(t: float, *labels: str) -> FrameFaces:
    return FrameFaces(t, [Box(0, 0, 10, 10)] * len(labels), onehot(*labels))


def test_engagement_index_is_expected_weight_over_max_weight():
    p = np.array([[0, 0, 0, 0.5, 0, 0, 0.5]])  # half happy, half neutral
    assert engagement_index(p, WEIGHTS)[0] == pytest.approx((0.5 * 0.6 + 0.5 * 0.9) / 0.9)
    assert engagement_index(onehot("neutral"), WEIGHTS)[0] == pytest.approx(1.0)
    assert engagement_index(onehot("disgust"), WEIGHTS)[0] == pytest.approx(0.2 / 0.9)


def test_minutes_close_by_media_time_with_all_figures():
    agg = MinuteAggregator(1.0, WEIGHTS)
    closed = []
    for t in range(60):
        closed += agg.add(frame(float(t), "neutral", "happy") if t % 2 else frame(float(t), "disgust"))
    assert closed == []
    closed += agg.add(frame(60.0, "sad"))
    (m,) = closed
    assert (m.minute, m.start_s, m.end_s, m.frames_sampled, m.frames_expected) == (0, 0.0, 59.0, 60, 60)
    assert m.faces_total == 30 * 2 + 30 and m.faces_max == 2 and m.faces_mean == pytest.approx(1.5)
    assert m.emotion_top_share["neutral"] == pytest.approx(30 / 90)
    assert m.emotion_mean["disgust"] == pytest.approx(30 / 90)
    assert sum(m.emotion_mean.values()) == pytest.approx(1.0)
    assert m.dominant_emotion in {"neutral", "happy", "disgust"}
    expected = (30 * 1.0 + 30 * 0.6 / 0.9 + 30 * 0.2 / 0.9) / 90
    assert m.engagement == pytest.approx(expected)
    # neutral (1.0) is high, happy (0.667) is high, disgust (0.222) is low
    assert (m.engagement_high, m.engagement_nominal, m.engagement_low) == pytest.approx((2 / 3, 0, 1 / 3))
    assert m.valence == pytest.approx(30 / 90 - 30 / 90)
    last = agg.finish(end_time=61.0)
    assert last.minute == 1 and last.frames_sampled == 1 and last.frames_expected == 1
    assert last.dominant_emotion == "sad"


def test_privacy_min_faces_suppresses_emotions_but_keeps_counts():
    agg = MinuteAggregator(1.0, WEIGHTS, min_faces=3)
    for t in range(10):
        agg.add(frame(float(t), "happy", "happy"))
    m = agg.finish()
    assert m.suppressed and m.faces_total == 20 and m.faces_max == 2
    assert m.emotion_mean is None and m.engagement is None and m.dominant_emotion is None


def test_minute_without_faces_is_suppressed_and_expected_frames_follow_the_rate():
    agg = MinuteAggregator(2.0, WEIGHTS)
    for i in range(20):
        agg.add(FrameFaces(i / 2, [], np.zeros((0, 7), np.float32)))
    m = agg.finish(end_time=10.0)
    assert m.suppressed and m.faces_total == 0
    assert m.frames_sampled == 20 and m.frames_expected == 20


def test_dropped_frames_show_as_fewer_sampled_than_expected():
    agg = MinuteAggregator(1.0, WEIGHTS)
    for t in range(0, 60, 2):
        agg.add(frame(float(t), "neutral"))
    (m,) = agg.add(frame(60.0, "neutral"))
    assert m.frames_sampled == 30 and m.frames_expected == 60


def test_a_gap_of_minutes_counts_only_the_closed_minutes_own_missing_frames():
    agg = MinuteAggregator(1.0, WEIGHTS)
    for t in range(60, 90):
        agg.add(frame(float(t), "happy"))
    (m,) = agg.add(frame(300.0, "happy"))  # paused from 1:30 to 5:00
    assert m.minute == 1 and m.frames_sampled == 30 and m.frames_expected == 60
