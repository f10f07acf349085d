"""Classification metrics (accuracy, macro-F1, per-class P/R/F1, confusion) in plain NumPy."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.training.calibration import expected_calibration_error
from engage.training.data import ferplus_majority, load_split


def classification_report(labels: np.ndarray, predicted: np.ndarray) -> dict:
    """Metrics for integer labels/predictions over EMOTIONS; JSON-ready."""
    k = len(EMOTIONS)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_pos = np.diag(confusion).astype(float)
    support = confusion.sum(axis=1)
    predicted_count = confusion.sum(axis=0)
    precision = np.divide(true_pos, predicted_count, out=np.zeros(k), where=predicted_count > 0)
    recall = np.divide(true_pos, support, out=np.zeros(k), where=support > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros(k), where=denominator > 0)
    return {
        "n": int(len(labels)),
        "accuracy": float((labels == predicted).mean()) if len(labels) else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(EMOTIONS)
        },
        "confusion_matrix": confusion.tolist(),
        "labels": list(EMOTIONS),
    }


def evaluate_split(classifier, data: Path, split: str, ferplus: Path | None = None, flip_tta: bool = False) -> dict:
    """Score ``classifier`` (an EmotionClassifier) on one FER2013 split.

    Labels are FER2013's, or with ``ferplus`` the FER+ majority vote restricted to images whose
    majority is one of the seven shared classes. ``flip_tta`` averages the face and its mirror
    image (reported separately; the product runs the single pass).
    """
    split_data = load_split(data, split, ferplus)
    faces, labels = split_data.faces, split_data.labels
    if ferplus is not None:
        if split_data.votes is None:
            raise EngageError("FER+ votes are needed to score against FER+ labels")
        majority = ferplus_majority(split_data.votes)
        keep = majority >= 0
        faces, labels = faces[keep], majority[keep]
    probabilities = classifier.predict(faces)
    if flip_tta:
        probabilities = (probabilities + classifier.predict(np.ascontiguousarray(faces[:, :, ::-1]))) / 2
    report = classification_report(labels, probabilities.argmax(axis=1))
    report.update(
        {
            "ece": expected_calibration_error(probabilities, labels),
            "split": split,
            "labels_from": "FER+ majority vote (7 shared classes)" if ferplus else "FER2013",
            "model": classifier.name,
            "flip_tta": flip_tta,
        }
    )
    return report
