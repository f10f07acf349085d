"""Calibration: the temperature that makes the model's probabilities honest, how far off they are, and what
per-minute share correction needs (engage.minutes.shares), all measured on PublicTest and stored beside the model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engage.emotions import EMOTIONS
from engage.minutes.shares import INFO_KEY, ShareCalibration
from engage.vision.classifier import DEFAULT_MODEL, EmotionClassifier, apply_temperature, model_info_path
from engage.vision.preprocess import INPUT_SIZE


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.3-5) that minimises the negative log-likelihood of ``labels`` (a 1-D search)."""
    grid = np.exp(np.linspace(np.log(0.3), np.log(5.0), 121))
    losses = [negative_log_likelihood(apply_temperature(probabilities, t), labels) for t in grid]
    best = int(np.argmin(losses))
    low, high = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
    fine = np.linspace(low, high, 41)
    losses = [negative_log_likelihood(apply_temperature(probabilities, t), labels) for t in fine]
    return float(round(fine[int(np.argmin(losses))], 4))


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def fit_class_bias(probabilities: np.ndarray, labels: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Per-class offsets b (summing to 0) that minimise the NLL of softmax(log p + b): bias-corrected calibration.

    Alexandari, Kundaje & Shrikumar (2020) show that a temperature alone leaves the per-class bias that
    label-shift correction (EM) is most sensitive to. The loss is convex in b; Newton steps converge in a few.
    """
    k = probabilities.shape[1]
    log_p = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0))
    target = np.eye(k)[labels]
    bias = np.zeros(k)
    for _ in range(iterations):
        logits = log_p + bias
        logits -= logits.max(axis=1, keepdims=True)
        q = np.exp(logits)
        q /= q.sum(axis=1, keepdims=True)
        gradient = (q - target).mean(axis=0)
        hessian = np.diag(q.mean(axis=0)) - q.T @ q / len(q) + 1e-9 * np.eye(k)
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        bias -= step - step.mean()
        if np.abs(step).max() < 1e-9:
            break
    return bias - bias.mean()


def share_calibration(
    probabilities: np.ndarray, labels: np.ndarray, fitted_on: str = "FER2013 PublicTest"
) -> ShareCalibration:
    """The ShareCalibration of a model from its (temperature-calibrated) probabilities on labelled faces."""
    p = np.asarray(probabilities, dtype=np.float64)
    k = p.shape[1]
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=k)
    if (counts == 0).any():
        missing = [int(c) for c in np.flatnonzero(counts == 0)]
        raise ValueError(f"no labelled face of class(es) {missing}: the model's behaviour on them is unknown")
    confusion = np.zeros((k, k))
    np.add.at(confusion, (labels, p.argmax(axis=1)), 1.0)
    mean_probability = np.zeros((k, k))
    np.add.at(mean_probability, labels, p)
    return ShareCalibration(
        prior=counts / counts.sum(),
        bias=fit_class_bias(p, labels),
        confusion=confusion / counts[:, None],
        mean_probability=mean_probability / counts[:, None],
        faces=len(labels),
        fitted_on=fitted_on,
    )


def calibration_info(raw_probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """What is stored beside a model about its PublicTest behaviour, from its uncalibrated probabilities there:
    the fitted ``temperature`` and, under ``shares``, the share calibration of the temperature-scaled model."""
    temperature = fit_temperature(raw_probabilities, labels)
    calibrated = apply_temperature(raw_probabilities, temperature)
    return {"temperature": temperature, INFO_KEY: share_calibration(calibrated, labels).to_info()}


def calibrate_model(model_path: Path | None = None, data: Path | None = None) -> dict[str, Any]:
    """Measure a LiteRT model on PublicTest and (re)write its info file (``<model>.json``); returns the info.

    Keys already in the file that this does not measure (``weights``, ``crop``, ...) are kept. `engage train`
    does the same when it exports a model; `engage calibrate` runs this for a model that has no info file yet.
    """
    from engage.training.data import default_data_path, load_split

    model_path = Path(model_path) if model_path else DEFAULT_MODEL
    split = load_split(data or default_data_path(), "val")
    raw = EmotionClassifier(model_path, temperature=1.0).predict(split.faces)
    path = model_info_path(model_path)
    info: dict[str, Any] = {}
    if path.is_file():
        try:
            existing = json.loads(path.read_text())
        except ValueError:
            existing = None
        info = existing if isinstance(existing, dict) else {}
    info = {"labels": list(EMOTIONS), "input_size": INPUT_SIZE, **info, **calibration_info(raw, split.labels)}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, path)
    return info
