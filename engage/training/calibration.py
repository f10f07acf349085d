"""Calibration: the temperature that makes the model's probabilities honest, and how far off they are."""

from __future__ import annotations

import numpy as np

from engage.vision.classifier import apply_temperature


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
