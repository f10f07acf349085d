"""EmotionClassifier: preprocessing parity, Keras-vs-LiteRT parity, real photos, batching."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.vision.classifier import DEFAULT_MODEL, EmotionClassifier
from engage.vision.preprocess import prepare_faces


@pytest.fixture(scope="module")
def classifier() -> EmotionClassifier:
    return EmotionClassifier()


@pytest.fixture(scope="module")
def real_faces(astronaut_bgr) -> np.ndarray:
    """48x48 gray faces: FER2013 test faces when present, else crops of the astronaut photo."""
    from engage.paths import shared_data_dir

    path = shared_data_dir() / "fer2013.npz"
    if path.is_file():
        with np.load(path) as data:
            return data["test_x"][:256]
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    return np.stack([cv2.resize(gray[30 + i : 230 + i, 140:320], (48, 48)) for i in range(16)])


def test_training_and_inference_see_identical_inputs(real_faces):
    # Training feeds (N, 48, 48) uint8 arrays; inference feeds crops of any size and colour format.
    training = prepare_faces(real_faces)
    bgr = [cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in real_faces]
    rgba = [cv2.cvtColor(f, cv2.COLOR_GRAY2RGBA) for f in real_faces]
    doubled = [cv2.resize(f, (96, 96), interpolation=cv2.INTER_NEAREST) for f in real_faces]
    assert training.shape == (len(real_faces), 48, 48, 1) and training.dtype == np.float32
    np.testing.assert_array_equal(prepare_faces(bgr), training)
    np.testing.assert_array_equal(prepare_faces(rgba, order="rgb"), training)
    np.testing.assert_array_equal(prepare_faces(list(real_faces)), training)
    np.testing.assert_array_equal(prepare_faces(doubled), training)  # area-downscaling undoes 2x nearest
    assert np.allclose(training.mean(axis=(1, 2, 3)), 0, atol=1e-4)


def test_rgb_and_bgr_orders_differ_only_in_channel_weights(astronaut_bgr):
    rgb = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(prepare_faces([rgb], order="rgb"), prepare_faces([astronaut_bgr]))


def test_keras_and_litert_agree_on_real_faces(fer2013):
    from engage.training.export import keras_litert_max_difference

    with np.load(fer2013) as data:
        faces = data["test_x"][:256]
    keras_file = DEFAULT_MODEL.with_suffix(".keras")
    assert keras_litert_max_difference(keras_file, DEFAULT_MODEL, faces) <= 1e-4


def test_batches_of_any_size_and_format(classifier, real_faces, astronaut_bgr):
    assert classifier.predict([]).shape == (0, 7)
    crops = [real_faces[0], astronaut_bgr[30:230, 140:320], cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA)]
    p = classifier.predict(crops)
    assert p.shape == (3, 7) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    # One call over 150 faces (several interpreter chunks) equals face-by-face results.
    many = np.concatenate([real_faces] * 2)[:150]
    together = classifier.predict(many)
    alone = np.concatenate([classifier.predict(many[i : i + 1]) for i in range(0, 150, 37)])
    np.testing.assert_allclose(together[::37], alone, atol=1e-5)


def test_astronaut_is_happy(classifier, astronaut_bgr):
    from engage.config import load_config
    from engage.types import Frame
    from engage.vision.analyzer import FrameAnalyzer

    found = FrameAnalyzer(load_config(environ={}), classifier=classifier).analyze(Frame(astronaut_bgr, 0.0, 0))
    assert len(found.boxes) == 1
    assert EMOTIONS[int(found.probabilities[0].argmax())] == "happy"


def test_missing_or_bad_model_file(tmp_path):
    with pytest.raises(EngageError, match="emotion model not found"):
        EmotionClassifier(tmp_path / "none.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(EngageError, match="not a LiteRT model"):
        EmotionClassifier(bad)


def test_the_shipped_temperature_is_applied_by_the_classifier(tmp_path, astronaut_bgr):
    import json
    import shutil

    from engage.vision.classifier import apply_temperature

    model = tmp_path / "engage-emotion.tflite"
    shutil.copy(DEFAULT_MODEL, model)
    crops = [astronaut_bgr[30:230, 140:320], astronaut_bgr]
    raw = EmotionClassifier(model).predict(crops)  # no info file beside it: temperature 1
    (tmp_path / "engage-emotion.json").write_text(json.dumps({"temperature": 2.0}))
    calibrated = EmotionClassifier(model)
    assert calibrated.temperature == 2.0
    softened = calibrated.predict(crops)
    np.testing.assert_allclose(softened, apply_temperature(raw, 2.0), rtol=1e-5, atol=1e-6)
    assert softened.max() < raw.max() and np.allclose(softened.sum(axis=1), 1, atol=1e-5)
    assert (softened.argmax(1) == raw.argmax(1)).all()  # calibration never changes the decision
    np.testing.assert_allclose(EmotionClassifier(model, temperature=1.0).predict(crops), raw, rtol=1e-6)
    (tmp_path / "engage-emotion.json").write_text(json.dumps({"temperature": -1}))
    with pytest.raises(EngageError, match="temperature must be positive"):
        EmotionClassifier(model)
