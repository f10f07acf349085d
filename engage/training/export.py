"""Turn a finished training run into the shipped artefacts and the model card.

Writes to the output folder: engage-emotion.keras (Keras 3 model, no optimizer state),
engage-emotion.tflite (LiteRT float32, what the product runs), metrics.json, confusion_matrix.png,
training_curves.png and README.md (the model card).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.training.calibration import calibration_info
from engage.training.card import asdict_row, model_card, plot_confusion, plot_curves
from engage.training.evaluate import evaluate_split
from engage.training.train import TrainConfig, TrainState, data_checksums
from engage.vision.classifier import EmotionClassifier, model_info_path

INT8_TOLERANCE = 0.003  # int8 ships when it loses at most 0.3 points of PublicTest accuracy
KERAS_NAME = "engage-emotion.keras"
TFLITE_NAME = "engage-emotion.tflite"
CANDIDATE_DIR = "candidate"  # `engage train` exports here, beside the checkpoint, before ship_if_better
# Everything an export writes: what replaces the shipped model together, or not at all.
MODEL_FILES = (
    KERAS_NAME,
    TFLITE_NAME,
    "engage-emotion.json",
    "metrics.json",
    "README.md",
    "confusion_matrix.png",
    "training_curves.png",
)


def convert_to_tflite(keras_path: Path, tflite_path: Path, quantize: bool = False) -> None:
    """Convert a .keras model to a LiteRT file, float32 or dynamic-range int8 (in a TensorFlow subprocess if needed)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        # Models trained under JAX or PyTorch convert through TensorFlow in a fresh process.
        code = (
            "import sys; from pathlib import Path; from engage.training.export import convert_to_tflite as c; "
            "c(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == '1')"
        )
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        args = [str(keras_path), str(tflite_path), "1" if quantize else "0"]
        subprocess.run([sys.executable, "-c", code, *args], check=True, env=env)
        return
    import tensorflow as tf

    model = keras.models.load_model(keras_path, compile=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    # The converter prints its intermediate SavedModel's signature listing; it is noise here.
    with contextlib.redirect_stdout(io.StringIO()):
        flatbuffer = converter.convert()
    tmp = tflite_path.with_suffix(".tflite.tmp")
    tmp.write_bytes(flatbuffer)
    os.replace(tmp, tflite_path)


def keras_litert_max_difference(keras_path: Path, tflite_path: Path, faces: np.ndarray) -> float:
    """Largest absolute difference between Keras and LiteRT probabilities on the same faces."""
    import keras

    from engage.vision.preprocess import prepare_faces

    model = keras.models.load_model(keras_path, compile=False)
    batch = prepare_faces(faces)
    reference = keras.ops.convert_to_numpy(model(batch, training=False))
    litert = EmotionClassifier(tflite_path, temperature=1.0).predict_prepared(batch)
    return float(np.abs(reference - litert).max())


def quantized_tflite(keras_path: Path, tflite_path: Path) -> None:
    """A dynamic-range int8 LiteRT file (weights int8, activations float): ~4x smaller, faster on CPU."""
    convert_to_tflite(keras_path, tflite_path, quantize=True)


def export_run(
    config: TrainConfig,
    state: TrainState,
    checkpoint_dir: Path,
    out_dir: Path,
    command: str,
    log: Callable[[str], None] = print,
) -> dict:
    """Export the best weights of a finished run to ``out_dir``, calibrate them, and write the model card.

    PublicTest chooses between the float32 and the int8 file (int8 ships when it loses at most
    INT8_TOLERANCE of accuracy) and fits the temperature; PrivateTest is only reported.
    """
    import keras
    import tensorflow as tf

    from engage.training.data import load_split
    from engage.training.model import build_model, inference_model
    from engage.training.train import best_weights, float_variables

    weights, _ = best_weights(checkpoint_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_path, tflite_path = out_dir / KERAS_NAME, out_dir / TFLITE_NAME
    core = build_model(size=config.crop)
    for variable, value in zip(float_variables(core), weights, strict=True):
        variable.assign(value)
    model = inference_model(core)
    model.save(keras_path)  # weights only: a fresh model carries no optimiser state
    convert_to_tflite(keras_path, tflite_path)
    parity_faces = load_split(config.data, "test").faces[:512]
    parity = keras_litert_max_difference(keras_path, tflite_path, parity_faces)
    log(f"wrote {keras_path} and {tflite_path}")

    # float32 or int8: chosen on PublicTest, both reported on PrivateTest.
    int8_path = out_dir / "engage-emotion-int8.tflite.tmp"
    quantized_tflite(keras_path, int8_path)
    raw = {
        "float32": EmotionClassifier(tflite_path, temperature=1.0),
        "int8": EmotionClassifier(int8_path, temperature=1.0),
    }
    variants = {
        kind: {
            "public_test": evaluate_split(c, config.data, "val")["accuracy"],
            "private_test": evaluate_split(c, config.data, "test")["accuracy"],
            "bytes": c.path.stat().st_size,
        }
        for kind, c in raw.items()
    }
    shipped = (
        "int8" if variants["int8"]["public_test"] >= variants["float32"]["public_test"] - INT8_TOLERANCE else "float32"
    )
    if shipped == "int8":
        os.replace(int8_path, tflite_path)
    else:
        int8_path.unlink()
    public = {kind: f"{v['public_test']:.2%}" for kind, v in variants.items()}
    log(f"shipping the {shipped} LiteRT file (PublicTest float32 {public['float32']}, int8 {public['int8']})")

    # Temperature fitted on PublicTest, stored beside the model; EmotionClassifier applies it.
    val = load_split(config.data, "val")
    uncalibrated = EmotionClassifier(tflite_path, temperature=1.0)
    # With it, what per-minute share correction needs (engage.minutes.shares), measured there too.
    calibration = calibration_info(uncalibrated.predict(val.faces), val.labels)
    temperature = calibration["temperature"]
    info = {
        "temperature": temperature,
        "labels": list(EMOTIONS),
        "input_size": 48,
        "crop": config.crop,
        "weights": shipped,
        "shares": calibration["shares"],
    }
    model_info_path(tflite_path).write_text(json.dumps(info, indent=1) + "\n")

    classifier = EmotionClassifier(tflite_path)
    votes = config.ferplus or config.data.with_name("ferplus_votes.npz")
    reports = {
        "public_test": evaluate_split(classifier, config.data, "val"),
        "private_test": evaluate_split(classifier, config.data, "test"),
        "private_test_uncalibrated": evaluate_split(uncalibrated, config.data, "test"),
        "private_test_flip_tta": evaluate_split(classifier, config.data, "test", flip_tta=True),
    }
    if votes.is_file():
        reports["ferplus_test"] = evaluate_split(classifier, config.data, "test", ferplus=votes)

    plot_confusion(
        reports["private_test"],
        out_dir / "confusion_matrix.png",
        f"FER2013 PrivateTest, accuracy {reports['private_test']['accuracy']:.2%}",
    )
    plot_curves(state.history, state.best_epoch, out_dir / "training_curves.png")
    summary = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "config": config.fingerprint(),
        "data_sha256": data_checksums(config),
        "epochs": state.epochs_done,
        "best_epoch": state.best_epoch,
        "best_weights": state.best_weights,
        "training_seconds": round(state.seconds),
        "training_cpu_seconds": round(state.cpu_seconds),
        "parameters": int(model.count_params()),
        "keras_bytes": keras_path.stat().st_size,
        "tflite_bytes": tflite_path.stat().st_size,
        "tflite_weights": shipped,
        "variants": variants,
        "temperature": temperature,
        "keras_litert_max_abs_diff": parity,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__, "python": platform.python_version()},
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "results": {k: {kk: v[kk] for kk in ("accuracy", "macro_f1", "ece", "n")} for k, v in reports.items()},
        "reports": reports,
        "history": [asdict_row(h) for h in state.history],
    }
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=1))
    (out_dir / "README.md").write_text(model_card(summary))
    log(
        f"PrivateTest accuracy {reports['private_test']['accuracy']:.2%} (single pass), "
        f"{reports['private_test_flip_tta']['accuracy']:.2%} with flip TTA; model card: {out_dir / 'README.md'}"
    )
    return summary


def public_test_accuracy(model_dir: Path) -> float | None:
    """The PublicTest accuracy an export recorded in ``model_dir/metrics.json``; None without a readable one."""
    try:
        return float(json.loads((model_dir / "metrics.json").read_text())["results"]["public_test"]["accuracy"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ship_if_better(candidate: Path, models_dir: Path, log: Callable[[str], None] = print) -> bool:
    """Move an exported model from ``candidate`` over the shipped one in ``models_dir`` only if it scores higher
    on PublicTest (the split that makes choices; PrivateTest is only reported). Returns whether it shipped."""
    new, shipped = public_test_accuracy(candidate), public_test_accuracy(models_dir)
    if new is None:
        raise EngageError(f"{candidate} holds no exported model (metrics.json); nothing shipped")
    if shipped is not None and new <= shipped:
        log(
            f"not shipped: PublicTest {new:.2%} does not beat the shipped model's {shipped:.2%}; {models_dir} is "
            f"unchanged, the new model and its card are in {candidate}"
        )
        return False
    models_dir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        os.replace(candidate / name, models_dir / name)
    was = "" if shipped is None else f" (the model it replaces: {shipped:.2%})"
    log(f"shipped into {models_dir}: PublicTest {new:.2%}{was}")
    return True
