"""Corrected emotion shares and 90% intervals (engage.minutes.shares), against synthetic classifiers whose
confusions are known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.aggregate import MinuteAggregator
from engage.minutes.shares import (
    ShareCalibration,
    adjusted_count,
    corrected_shares,
    design_effect,
    effective_faces,
    em_shares,
    load_share_calibration,
    mean_interval,
    probabilistic_adjusted_count,
    probability_average,
)
from engage.training.calibration import share_calibration
from engage.types import Box, FrameFaces

K = len(EMOTIONS)
NEUTRAL, FEAR, HAPPY = EMOTIONS.index("neutral"), EMOTIONS.index("fear"), EMOTIONS.index("happy")
WEIGHTS = {"neutral": 0.9, "happy": 0.6, "surprise": 0.6, "sad": 0.3, "fear": 0.3, "angry": 0.25, "disgust": 0.2}
TRAIN_PRIOR = np.array([0.13, 0.02, 0.14, 0.25, 0.17, 0.12, 0.17])
TRAIN_PRIOR = TRAIN_PRIOR / TRAIN_PRIOR.sum()


def confusion() -> np.ndarray:
    """A model that gets 60% right and, like the real one, reads fear and sadness as neutral."""
    c = np.full((K, K), 0.4 / (K - 1))
    np.fill_diagonal(c, 0.6)
    for e in (FEAR, EMOTIONS.index("sad")):
        c[e, NEUTRAL] += 0.15
        c[e, e] -= 0.15
    return c


class SyntheticModel:
    """Each face of class i gets top label j with probability confusion[i, j] and, as its probabilities, the
    calibrated posterior of that label under TRAIN_PRIOR, distorted by a per-class bias (a miscalibration)."""

    def __init__(self, distortion: np.ndarray | None = None) -> None:
        self.c = confusion()
        posterior = self.c * TRAIN_PRIOR[:, None]  # [i, j]: P(class i, label j)
        self.outputs = (posterior / posterior.sum(axis=0)).T  # [j]: P(class | label j)
        if distortion is not None:
            scores = self.outputs * np.exp(distortion)
            self.outputs = scores / scores.sum(axis=1, keepdims=True)

    def faces(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        top = np.array([rng.choice(K, p=self.c[i]) for i in labels])
        return self.outputs[top]

    def calibration(self, rng: np.random.Generator, n: int = 20000) -> ShareCalibration:
        labels = rng.choice(K, size=n, p=TRAIN_PRIOR)
        return share_calibration(self.faces(labels, rng), labels, fitted_on="synthetic")


def faces_of_mix(mix: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly round(mix * n) faces of each class."""
    counts = np.round(np.asarray(mix) * n).astype(int)
    return np.repeat(np.arange(K), counts)


CLASSROOM = np.array([0.04, 0.01, 0.10, 0.10, 0.10, 0.05, 0.60])


def test_the_correction_recovers_a_known_mix_that_averaging_misses() -> None:
    rng = np.random.default_rng(1)
    model = SyntheticModel(distortion=np.array([0.0, -0.3, -0.6, 0.2, 0.0, 0.1, 0.5]))  # over-reads neutral
    calibration = model.calibration(rng)
    labels = faces_of_mix(CLASSROOM, 6000, rng)
    truth = np.bincount(labels, minlength=K) / len(labels)
    p = model.faces(labels, rng)
    found = corrected_shares(p, calibration, seed=3)
    assert np.abs(found.shares - truth).max() < 0.02
    assert np.all(found.low <= truth + 0.005) and np.all(truth - 0.005 <= found.high)
    # The raw figures carry the confusions and the training mix: a 60% neutral class reads far less neutral.
    raw = probability_average(p)
    assert truth[NEUTRAL] - raw[NEUTRAL] > 0.1 and np.abs(raw - truth).max() > 3 * np.abs(found.shares - truth).max()
    # The simpler corrections the benchmark compares recover it too, given this many faces (adjusted counting
    # only where each label is some class's top label: here disgust's never is, so it cannot see disgust).
    assert np.abs(probabilistic_adjusted_count(p, calibration) - truth).max() < 0.02
    assert np.abs(em_shares(p, calibration) - truth).max() < 0.02
    assert np.abs(np.delete(adjusted_count(p, calibration) - truth, [1, HAPPY])).max() < 0.02


def test_the_fitted_bias_undoes_a_per_class_miscalibration() -> None:
    rng = np.random.default_rng(2)
    distortion = np.array([0.4, -0.5, -0.6, 0.2, 0.0, 0.1, 0.5])
    calibration = SyntheticModel(distortion).calibration(rng, n=40000)
    undone = -(distortion - distortion.mean())
    assert np.abs(calibration.bias - undone).max() < 0.1
    assert calibration.prior == pytest.approx(TRAIN_PRIOR, abs=0.01)
    assert calibration.confusion.sum(axis=1) == pytest.approx(np.ones(K))
    model = SyntheticModel()
    calibrated = model.calibration(rng, n=40000)
    assert np.abs(calibrated.bias).max() < 0.05  # already calibrated: nothing to undo
    assert calibrated.mean_probability == pytest.approx(confusion() @ model.outputs, abs=0.02)


def assert_valid(found, faces: int) -> None:
    assert np.isfinite(found.shares).all() and np.all(found.shares >= 0)
    assert found.shares.sum() == pytest.approx(1.0)
    assert np.all(found.low >= 0) and np.all(found.high <= 1)
    assert np.all(found.low <= found.shares) and np.all(found.shares <= found.high)
    assert 0 < found.effective_faces <= faces


@pytest.mark.parametrize(
    "probabilities",
    [
        np.eye(K)[[HAPPY]],  # one face, certain (exact zeros)
        np.full((1, K), 1 / K),  # one face, no idea
        np.eye(K)[[FEAR] * 40],  # one class only
        np.tile([[0.05, 0.01, 0.1, 0.5, 0.1, 0.04, 0.2]], (60, 1)),  # every face identical
        np.tile(np.eye(K)[[NEUTRAL]], (500, 1)),  # many faces, all certain
    ],
    ids=["one-face", "one-uniform-face", "one-class", "identical-faces", "all-certain"],
)
def test_degenerate_minutes_give_valid_shares(probabilities: np.ndarray) -> None:
    calibration = SyntheticModel().calibration(np.random.default_rng(3), n=5000)
    found = corrected_shares(probabilities, calibration, seed=1)
    assert_valid(found, len(probabilities))
    # Groupings work too, including one frame holding every face, and one place per face.
    one_frame, own_places = np.zeros(len(probabilities), int), np.arange(len(probabilities))
    found = corrected_shares(probabilities, calibration, [one_frame], own_places, seed=1)
    assert_valid(found, len(probabilities))
    low, high = mean_interval(probabilities @ np.linspace(0.2, 1, K), [one_frame], own_places)
    assert 0 <= low < high <= 1


def test_one_face_gives_a_wide_interval_not_a_confident_number() -> None:
    calibration = SyntheticModel().calibration(np.random.default_rng(4), n=5000)
    found = corrected_shares(np.eye(K)[[HAPPY]], calibration, seed=1)
    assert found.high[HAPPY] - found.low[HAPPY] > 0.5


def test_intervals_shrink_as_faces_grow() -> None:
    rng = np.random.default_rng(5)
    model = SyntheticModel()
    calibration = model.calibration(rng, n=5000)
    widths = []
    for n in (10, 40, 160, 640):
        p = model.faces(faces_of_mix(CLASSROOM, n, rng), rng)
        found = corrected_shares(p, calibration, seed=n)
        widths.append(float((found.high - found.low).mean()))
        low, high = mean_interval(p @ np.linspace(0.2, 1, K))
        widths.append(high - low)
    shares, engagement = widths[0::2], widths[1::2]
    assert shares == sorted(shares, reverse=True) and shares[-1] < shares[0] / 3
    assert engagement == sorted(engagement, reverse=True) and engagement[-1] < engagement[0] / 3


def test_a_minute_gives_the_same_result_for_the_same_seed() -> None:
    rng = np.random.default_rng(6)
    model = SyntheticModel()
    calibration = model.calibration(rng, n=5000)
    p = model.faces(faces_of_mix(CLASSROOM, 50, rng), rng)
    first, again = corrected_shares(p, calibration, seed=(4, 50)), corrected_shares(p, calibration, seed=(4, 50))
    assert np.array_equal(first.shares, again.shares) and np.array_equal(first.low, again.low)
    other = corrected_shares(p, calibration, seed=(5, 50))
    assert np.abs(other.shares - first.shares).max() < 0.03  # Monte Carlo noise, far inside the interval


def test_faces_that_move_together_count_as_fewer_readings() -> None:
    rng = np.random.default_rng(7)
    model = SyntheticModel()
    calibration = model.calibration(rng, n=5000)
    per_unit = model.faces(faces_of_mix(CLASSROOM, 20, rng), rng)
    clustered = np.repeat(per_unit, 10, axis=0)  # 20 units (frames, or people), each read 10 times alike
    units = np.repeat(np.arange(20), 10)
    independent = np.arange(200) % 10  # a grouping that cuts across the units shows nothing
    assert design_effect(clustered, [units]) == pytest.approx(10.0)
    assert design_effect(clustered, [independent]) == pytest.approx(1.0, abs=0.5)
    assert design_effect(clustered, [independent, units]) == pytest.approx(10.0)  # the largest wins
    assert design_effect(clustered) == 1.0  # no grouping: every face its own reading
    together = corrected_shares(clustered, calibration, [units], seed=1)
    apart = corrected_shares(clustered, calibration, seed=1)
    assert together.effective_faces == pytest.approx(20) and apart.effective_faces == 200
    assert (together.high - together.low).mean() > 2 * (apart.high - apart.low).mean()
    engagement = clustered @ np.linspace(0.2, 1, K)
    low, high = mean_interval(engagement, [units])
    narrow_low, narrow_high = mean_interval(engagement)
    assert high - low > 2.5 * (narrow_high - narrow_low)
    # Identical readings carry no sign of being independent: a grouping then counts as fully alike.
    same = np.tile(per_unit[:1], (200, 1))
    assert design_effect(same, [units]) == 10.0 and design_effect(same) == 1.0
    with pytest.raises(ValueError, match="grouping"):
        corrected_shares(clustered, calibration, [units[:-1]], seed=1)


def test_people_at_their_places_count_once_however_alike_they_read() -> None:
    rng = np.random.default_rng(11)
    calibration = SyntheticModel().calibration(rng, n=5000)
    happy = np.array([0.02, 0.0, 0.02, 0.9, 0.02, 0.02, 0.02])
    readings = np.tile(happy, (120, 1)) + rng.normal(0, 0.002, (120, K))  # two people, 60 frames, alike
    readings /= readings.sum(axis=1, keepdims=True)
    frames, places = np.repeat(np.arange(60), 2), np.tile([0, 1], 60)
    assert effective_faces(readings, [frames], places) == 2.0
    assert effective_faces(readings, [frames]) > 100  # without places they look like 120 independent faces
    two = corrected_shares(readings, calibration, [frames], places, seed=1)
    many = corrected_shares(readings, calibration, [frames], seed=1)
    assert two.effective_faces == 2.0
    assert (two.high - two.low)[HAPPY] > 0.3 > 3 * (many.high - many.low)[HAPPY]
    engagement = readings @ np.linspace(0.2, 1, K)
    low, high = mean_interval(engagement, [frames], places)
    assert high - low > 0.2  # two people say little about a class, however steadily they are read


def test_mean_interval_covers_the_true_mean_about_nine_times_in_ten() -> None:
    rng = np.random.default_rng(8)
    hits = 0
    for _ in range(400):
        values = rng.beta(4, 3, size=rng.integers(5, 60))
        low, high = mean_interval(values)
        hits += low <= 4 / 7 <= high
    assert 0.85 <= hits / 400 <= 0.95
    # One face, or faces that all read the same, say little about the class: wide, not zero-width.
    low, high = mean_interval(np.array([0.7]))
    assert high - low > 0.6
    low, high = mean_interval(np.full(5, 0.7))
    assert high - low > 0.1


def test_share_calibration_round_trips_and_loads_from_beside_the_model(tmp_path: Path) -> None:
    calibration = SyntheticModel().calibration(np.random.default_rng(9), n=3000)
    back = ShareCalibration.from_info(json.loads(json.dumps(calibration.to_info())))
    assert np.allclose(back.bias, calibration.bias, atol=1e-6) and back.faces == 3000
    model = tmp_path / "m.tflite"
    assert load_share_calibration(model) is None  # no info file
    model.with_suffix(".json").write_text(json.dumps({"temperature": 1.2}))
    assert load_share_calibration(model) is None  # info without share calibration (an older model)
    model.with_suffix(".json").write_text(json.dumps({"temperature": 1.2, "shares": calibration.to_info()}))
    assert np.allclose(load_share_calibration(model).prior, calibration.prior, atol=1e-6)
    model.with_suffix(".json").write_text(json.dumps({"shares": {"prior": [1, 2]}}))
    with pytest.raises(EngageError, match="share calibration"):
        load_share_calibration(model)


def test_the_shipped_model_has_its_share_calibration() -> None:
    calibration = load_share_calibration()
    assert calibration is not None and calibration.faces == 3589 and calibration.fitted_on == "FER2013 PublicTest"
    assert calibration.prior.sum() == pytest.approx(1.0, abs=1e-5)


def test_the_aggregator_stores_corrected_shares_and_intervals_reproducibly() -> None:
    rng = np.random.default_rng(10)
    model = SyntheticModel()
    calibration = model.calibration(rng, n=5000)
    frames = [
        FrameFaces(float(t), [Box(0, 0, 9, 9)] * 5, model.faces(rng.choice(K, 5, p=CLASSROOM), rng).astype(np.float32))
        for t in range(60)
    ]

    def run(shares: ShareCalibration | None):
        aggregator = MinuteAggregator(1.0, WEIGHTS, shares=shares)
        for f in frames:
            aggregator.add(f)
        return aggregator.finish()

    m, again, raw = run(calibration), run(calibration), run(None)
    assert m == again
    assert sum(m.emotion_corrected.values()) == pytest.approx(1.0)
    for e in EMOTIONS:
        assert 0 <= m.emotion_corrected_low90[e] <= m.emotion_corrected[e] <= m.emotion_corrected_high90[e] <= 1
    assert m.engagement_low90 < m.engagement < m.engagement_high90
    assert m.emotion_mean == raw.emotion_mean and m.emotion_top_share == raw.emotion_top_share  # raw unchanged
    assert raw.emotion_corrected is None and raw.engagement_low90 == m.engagement_low90
    suppressed = MinuteAggregator(1.0, WEIGHTS, min_faces=6, shares=calibration)
    for f in frames:
        suppressed.add(f)
    hidden = suppressed.finish()
    assert hidden.suppressed and hidden.emotion_corrected is None and hidden.engagement_low90 is None
