"""Calibration beside the model: `engage calibrate` measures a real LiteRT model on PublicTest and writes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engage.emotions import EMOTIONS
from engage.minutes.shares import load_share_calibration
from engage.training.calibration import fit_class_bias, negative_log_likelihood
from engage.vision.classifier import DEFAULT_MODEL, EmotionClassifier, model_temperature


def test_class_bias_lowers_the_loss_and_sums_to_zero() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 4000)
    logits = rng.normal(size=(4000, 7)) + 2.0 * np.eye(7)[labels] + np.array([0, 0, -1.0, 0, 0, 0, 1.0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    bias = fit_class_bias(p, labels)
    assert abs(bias.sum()) < 1e-9
    shifted = np.exp(np.log(p) + bias)
    shifted /= shifted.sum(axis=1, keepdims=True)
    assert negative_log_likelihood(shifted, labels) < negative_log_likelihood(p, labels) - 0.01
    assert bias[2] - bias.mean() > 0.5 and bias[6] - bias.mean() < -0.5  # fear raised, neutral lowered


def test_engage_calibrate_writes_temperature_and_share_calibration_beside_the_model(
    tmp_path: Path, fer2013: Path
) -> None:
    model = tmp_path / "candidate.tflite"
    shutil.copyfile(DEFAULT_MODEL, model)
    model.with_suffix(".json").write_text(json.dumps({"weights": "float32", "temperature": 3.0}))
    done = subprocess.run(
        [sys.executable, "-m", "engage", "calibrate", "--model", str(model), "--data", str(fer2013), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(model.with_suffix(".json").read_text())
    assert json.loads(done.stdout) == info
    assert info["weights"] == "float32" and info["labels"] == list(EMOTIONS)  # other keys kept
    assert 0.9 < info["temperature"] < 1.3 and model_temperature(model) == info["temperature"]
    shares = load_share_calibration(model)
    assert shares is not None and shares.faces == 3589 and shares.fitted_on == "FER2013 PublicTest"
    # PublicTest's class shares, and a confusion whose diagonal is the model's per-class recall.
    assert shares.prior[EMOTIONS.index("happy")] == pytest.approx(0.249, abs=0.001)
    assert 0.55 < float(np.trace(shares.confusion @ np.diag(shares.prior)) / shares.prior.sum()) < 0.75
    assert EmotionClassifier(model).temperature == info["temperature"]
