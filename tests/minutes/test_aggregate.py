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


# ---------------------------------------------------------------------------- exact values (mutation tests)

EXACT = {"neutral": 1.0, "happy": 0.5, "surprise": 0.5, "sad": 0.25, "fear": 0.25, "angry": 0.125, "disgust": 0.0}


def test_a_face_exactly_on_a_band_edge_is_nominal():
    # happy scores exactly 0.5 and sad exactly 0.25 with these weights: on the edges, neither high nor low.
    agg = MinuteAggregator(1.0, EXACT, high_band=0.5, low_band=0.25)
    agg.add(frame(0.0, "happy", "sad", "neutral", "disgust"))
    m = agg.finish()
    assert (m.engagement_high, m.engagement_nominal, m.engagement_low) == (0.25, 0.5, 0.25)
    assert m.engagement == (0.5 + 0.25 + 1.0 + 0.0) / 4


def test_the_configured_bands_reach_the_aggregator_the_right_way_round():
    from engage.config import load_config

    engagement = {"weights": EXACT, "high_band": 0.75, "low_band": 0.375}
    config = load_config(overrides={"engagement": engagement, "privacy": {"min_faces": 2}}, environ={})
    agg = MinuteAggregator.from_config(config)
    assert (agg.high_band, agg.low_band, agg.min_faces, agg.sample_fps) == (0.75, 0.375, 2, 1.0)
    assert agg.weights == EXACT
    agg.add(frame(0.0, "neutral", "happy", "sad", "sad"))  # 1.0 high, 0.5 nominal, 0.25 and 0.25 low
    m = agg.finish()
    assert (m.engagement_high, m.engagement_nominal, m.engagement_low) == (0.25, 0.25, 0.5)
    assert min(m.engagement_high, m.engagement_nominal, m.engagement_low) >= 0


def test_privacy_counts_typical_faces_over_the_frames_that_had_faces():
    # Two faces in the one frame that had any, nothing in three: typically two faces, so shown at min_faces=2,
    # although the mean over all frames is 0.5.
    agg = MinuteAggregator(1.0, EXACT, min_faces=2)
    agg.add(frame(0.0, "happy", "neutral"))
    for t in (1.0, 2.0, 3.0):
        agg.add(frame(t))
    m = agg.finish()
    assert not m.suppressed and m.faces_mean == 0.5 and m.faces_total == 2 and m.faces_max == 2
    assert m.engagement == 0.75
    agg = MinuteAggregator(1.0, EXACT, min_faces=3)
    agg.add(frame(0.0, "happy", "neutral"))
    assert agg.finish().suppressed  # two typical faces are below three


def test_every_figure_of_a_minute_is_exact():
    agg = MinuteAggregator(2.0, EXACT, high_band=0.75, low_band=0.375)
    p = np.array(
        [
            [0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.5],  # happy/neutral: engagement 0.75, top label happy (first max)
            [0.25, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0],  # angry/sad: 0.25 * 0.125 + 0.75 * 0.25 = 0.21875
        ]
    )
    assert agg.add(FrameFaces(0.5, [Box(0, 0, 1, 1)] * 2, p)) == []
    assert agg.add(FrameFaces(1.0, [Box(0, 0, 1, 1)], onehot("surprise"))) == []
    (m,) = agg.add(FrameFaces(61.0, [], np.zeros((0, 7))))
    assert (m.minute, m.start_s, m.end_s, m.frames_sampled, m.frames_expected) == (0, 0.0, 1.0, 2, 120)
    assert (m.faces_total, m.faces_max, m.faces_mean, m.suppressed) == (3, 2, 1.5, False)
    assert m.emotion_mean == {
        "angry": 0.25 / 3,
        "disgust": 0.0,
        "fear": 0.0,
        "happy": 0.5 / 3,
        "sad": 0.75 / 3,
        "surprise": 1 / 3,
        "neutral": 0.5 / 3,
    }
    assert m.emotion_top_share == {
        "angry": 0.0,
        "disgust": 0.0,
        "fear": 0.0,
        "happy": 1 / 3,
        "sad": 1 / 3,
        "surprise": 1 / 3,
        "neutral": 0.0,
    }
    assert m.dominant_emotion == "surprise"
    assert m.valence == pytest.approx(0.5 / 3 - (0.25 + 0.75) / 3, abs=1e-12)
    assert m.engagement == pytest.approx((0.75 + 0.21875 + 0.5) / 3, abs=1e-12)
    assert (m.engagement_high, m.engagement_nominal, m.engagement_low) == (0.0, 2 / 3, 1 / 3)  # 0.75: on the edge
    last = agg.finish(end_time=62.0)
    assert (last.minute, last.start_s, last.end_s, last.frames_sampled, last.frames_expected) == (1, 60.0, 61.0, 1, 4)
    assert last.suppressed and last.faces_total == 0 and last.faces_mean == 0.0 and last.engagement is None
    assert last.faces_max == 0 and last.emotion_mean is None and last.dominant_emotion is None
    assert agg.finish() is None  # nothing open any more


def test_expected_frames_at_the_end_follow_the_last_sample_or_the_media_end():
    agg = MinuteAggregator(1.0, EXACT)
    for t in range(10):
        agg.add(frame(float(t), "neutral"))
    assert agg.finish().frames_expected == 10  # the last sample + one interval
    agg = MinuteAggregator(1.0, EXACT)
    agg.add(frame(0.0, "neutral"))
    assert agg.finish(end_time=200.0).frames_expected == 60  # never past the minute's end
    agg = MinuteAggregator(4.0, EXACT)
    for t in (0.0, 10.0):  # a sample missed in between: the minute covers up to 10.25 s
        agg.add(frame(t, "neutral"))
    assert agg.finish().frames_expected == 41
    agg = MinuteAggregator(0.5, EXACT)
    for t in (120.0, 122.0):
        agg.add(frame(t, "neutral"))
    m = agg.finish(end_time=125.0)
    assert (m.minute, m.start_s, m.frames_sampled, m.frames_expected) == (2, 120.0, 2, 3)


def test_engagement_index_is_scaled_by_the_largest_weight():
    weights = {e: 2.0 * w for e, w in EXACT.items()}  # the same index whatever the weights' scale
    p = np.array([[0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4]])
    assert engagement_index(p, weights)[0] == pytest.approx(engagement_index(p, EXACT)[0])
    assert engagement_index(p, EXACT)[0] == pytest.approx(0.1 * (0.125 + 0 + 0.25 + 0.5 + 0.25 + 0.5) + 0.4)


def test_sums_are_taken_in_double_precision_whatever_the_model_returns():
    # The classifier hands over float32; summing thousands of faces in float32 would drift.
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(7), size=5000).astype(np.float32)
    agg = MinuteAggregator(1.0, EXACT)
    agg.add(FrameFaces(0.0, [Box(0, 0, 1, 1)] * len(p), p))
    m = agg.finish()
    exact = p.astype(np.float64).sum(axis=0) / len(p)
    assert [m.emotion_mean[e] for e in EMOTIONS] == pytest.approx(exact.tolist(), rel=1e-12, abs=0)
    assert m.engagement == pytest.approx(float(engagement_index(p, EXACT).mean()), rel=1e-12, abs=0)


def test_the_share_calibration_comes_from_beside_the_configured_model(tmp_path):
    import json

    from engage.config import load_config
    from engage.minutes.shares import INFO_KEY, load_share_calibration
    from engage.paths import MODELS_DIR

    shipped = json.loads((MODELS_DIR / "engage-emotion.json").read_text())
    if INFO_KEY not in shipped:
        pytest.skip("the shipped model has no share calibration")
    info = {INFO_KEY: {**shipped[INFO_KEY], "faces": shipped[INFO_KEY]["faces"] + 1}}  # not the shipped one
    model = tmp_path / "other.tflite"
    model.write_bytes(b"")
    model.with_suffix(".json").write_text(json.dumps(info))
    agg = MinuteAggregator.from_config(load_config(overrides={"classifier": {"model": str(model)}}, environ={}))
    assert agg.shares is not None and agg.shares.faces == shipped[INFO_KEY]["faces"] + 1
    assert agg.shares.faces == load_share_calibration(model).faces


def attended(t: float, states: list[str | None], readable: list[bool], labels: list[str]) -> FrameFaces:
    """A sample whose faces the attention stage has judged: tracks 1..n, the given states and readability."""
    n = len(labels)
    return FrameFaces(
        t,
        [Box(50 * i, 0, 10, 10) for i in range(n)],
        onehot(*labels),
        tracks=np.arange(1, n + 1),
        states=states,
        readable=np.array(readable),
    )


def test_attention_shares_sum_to_one_and_engagement_v2_weights_each_face_by_its_state():
    agg = MinuteAggregator(1.0, WEIGHTS, attention_weights={"facing": 1.0, "down": 0.8, "away": 0.3})
    for t in range(60):
        agg.add(attended(float(t), ["facing", "down", "away", None], [True, False, True, True], ["happy"] * 4))
    m = agg.finish()
    assert m.people == 4
    assert (m.attention_facing, m.attention_down, m.attention_away) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert m.attention_facing + m.attention_down + m.attention_away == pytest.approx(1.0)
    assert m.readable_share == pytest.approx(3 / 4)
    happy = 0.6 / 0.9
    # facing happy, down (unreadable: neutral, 1.0) x 0.8, away happy x 0.3, no pose: happy x 1
    assert m.engagement == pytest.approx((happy + 0.8 + 0.3 * happy + happy) / 4)
    assert m.engagement_v1 == pytest.approx(happy)  # expression only, every face
    assert m.emotion_mean["happy"] == pytest.approx(1.0) and m.faces_total == 240


def test_a_minute_where_every_face_is_down_has_attention_but_no_emotion_figures():
    agg = MinuteAggregator(1.0, WEIGHTS)
    for t in range(30):
        agg.add(attended(float(t), ["down", "down"], [False, False], ["sad", "sad"]))
    m = agg.finish()
    assert not m.suppressed and m.people == 2
    assert (m.attention_facing, m.attention_down, m.attention_away) == (0.0, 1.0, 0.0)
    assert m.readable_share == 0.0
    assert m.emotion_mean is None and m.emotion_top_share is None and m.dominant_emotion is None
    assert m.valence is None and m.emotion_corrected is None
    assert m.engagement == pytest.approx(0.8)  # working, not "sad"
    assert m.engagement_v1 == pytest.approx(0.3 / 0.9)  # what the expression-only index said


def test_emotion_figures_count_readable_faces_only():
    agg = MinuteAggregator(1.0, WEIGHTS)
    for t in range(10):
        agg.add(attended(float(t), ["facing", "down"], [True, False], ["happy", "sad"]))
    m = agg.finish()
    assert m.emotion_mean["happy"] == pytest.approx(1.0) and m.emotion_top_share["sad"] == 0.0


def test_a_minute_without_tracks_or_poses_has_no_people_or_attention():
    agg = MinuteAggregator(1.0, WEIGHTS)
    agg.add(frame(0.0, "neutral"))
    m = agg.finish()
    assert m.people is None and m.attention_facing is None and m.readable_share == 1.0
    assert m.engagement == m.engagement_v1 == pytest.approx(1.0)


def test_privacy_applies_to_the_readable_faces_that_emotion_figures_describe():
    agg = MinuteAggregator(1.0, WEIGHTS, min_faces=3)
    for t in range(10):  # four faces a frame, but only one of them readable
        agg.add(attended(float(t), ["facing", "down", "down", "down"], [True, False, False, False], ["happy"] * 4))
    m = agg.finish()
    assert not m.suppressed and m.attention_down == pytest.approx(0.75)
    assert m.emotion_mean is None and m.dominant_emotion is None
