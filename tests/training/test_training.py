"""A real two-step training run on a tiny FER2013 subset, resumed, exported and evaluated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engage.minutes.shares import load_share_calibration
from engage.training.data import augment, erase_and_crop, ferplus_distribution, ferplus_majority, training_targets
from engage.training.evaluate import classification_report
from engage.training.train import load_checkpoint


def engage(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_two_step_training_smoke_run_resumes_and_exports(tmp_path, fer2013, ferplus_votes):
    from engage.paths import MODELS_DIR

    # Without --out the run is exported beside its checkpoint and replaces the shipped model only if it beats it
    # on PublicTest, which two steps on 128 faces cannot.
    ckpt = tmp_path / "ckpt"
    out = ckpt / "candidate"
    shipped = (MODELS_DIR / "engage-emotion.tflite").read_bytes()
    common = ["train", "--data", str(fer2013), "--ferplus", "--limit", "128", "--max-steps", "2"]
    common += ["--checkpoint-dir", str(ckpt)]
    first = engage(*common, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    assert "not shipped: PublicTest" in first.stderr and (MODELS_DIR / "engage-emotion.tflite").read_bytes() == shipped
    meta, _ = load_checkpoint(ckpt / "checkpoint.npz")
    assert meta["state"]["epochs_done"] == 1
    # Same settings but more epochs is another schedule: refused, not silently mixed.
    refused = engage(*common, "--epochs", "2")
    assert refused.returncode == 1 and "other settings" in refused.stderr and "Traceback" not in refused.stderr
    for name in (
        "engage-emotion.keras",
        "engage-emotion.tflite",
        "README.md",
        "metrics.json",
        "confusion_matrix.png",
        "training_curves.png",
        "engage-emotion.json",
    ):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["keras_litert_max_abs_diff"] <= 1e-4
    info = json.loads((out / "engage-emotion.json").read_text())
    assert metrics["temperature"] == info["temperature"] > 0
    # The export measured what per-minute share correction needs, on PublicTest, beside the model.
    shares = load_share_calibration(out / "engage-emotion.tflite")
    assert shares is not None and shares.faces == 3589 and info["weights"] == metrics["tflite_weights"]
    assert set(metrics["variants"]) == {"float32", "int8"} and metrics["tflite_weights"] in metrics["variants"]
    assert metrics["results"]["private_test"]["n"] == 3589
    assert "engage train" in (out / "README.md").read_text()
    evaluated = engage(
        "evaluate", "--data", str(fer2013), "--split", "val", "--model", str(out / "engage-emotion.tflite"), "--json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(report)
    assert np.array(report["confusion_matrix"]).sum() == 3589


def test_augmentation_is_seeded_and_keeps_shape():
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    a = augment(faces, np.random.default_rng([1, 3]))
    b = augment(faces, np.random.default_rng([1, 3]))
    np.testing.assert_array_equal(a, b)
    assert a.shape == faces.shape and a.dtype == np.uint8 and not np.array_equal(a, faces)


def test_ferplus_votes_map_to_fer2013_order():
    # FER+ columns: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
    votes = np.array([[0, 8, 2, 0, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0, 9], [6, 0, 0, 0, 4, 0, 0, 0, 0, 0]])
    dist = ferplus_distribution(votes)
    assert dist[0, 3] == 0.8 and dist[0, 5] == 0.2  # happy, surprise
    assert list(ferplus_majority(votes)) == [3, -1, 6]


def test_soft_targets_mix_labels_and_drop_non_faces():
    from engage.training.data import Split

    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    votes = np.array(
        [[0, 10, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    )
    targets, keep = training_targets(Split(faces, np.array([3, 3, 4]), votes), ferplus_weight=0.4)
    assert list(keep) == [True, False, True]
    np.testing.assert_allclose(targets[2], [0, 0, 0, 0, 0.6, 0, 0.4])
    np.testing.assert_allclose(targets.sum(axis=1), 1)


def test_classification_report_metrics():
    labels = np.array([0, 0, 1, 3, 3, 3])
    predicted = np.array([0, 3, 1, 3, 3, 0])
    r = classification_report(labels, predicted)
    assert r["accuracy"] == 4 / 6
    assert r["per_class"]["angry"]["precision"] == 0.5 and r["per_class"]["angry"]["recall"] == 0.5
    assert r["per_class"]["happy"]["recall"] == 2 / 3
    assert r["confusion_matrix"][3][0] == 1


def test_erasing_happens_after_standardisation_and_fills_the_face_mean():
    from engage.vision.preprocess import standardize

    faces = np.random.default_rng(0).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    x = standardize(faces)
    erased = erase_and_crop(x, np.random.default_rng(1), crop=48)
    changed = erased != x
    assert changed.any(axis=(1, 2, 3)).sum() > 10  # about half the faces lose a rectangle
    np.testing.assert_array_equal(erased[changed], 0.0)  # 0 is each standardised face's mean
    cropped = erase_and_crop(x, np.random.default_rng(1), crop=40)
    assert cropped.shape == (64, 40, 40, 1)


def test_weight_decay_shrinks_kernels_only(tmp_path):
    import keras

    from engage.training.model import build_model
    from engage.training.train import TrainConfig, make_optimizer

    model = build_model()
    optimizer = make_optimizer(TrainConfig(data=tmp_path / "x.npz", warmup_epochs=0), steps_per_epoch=10)
    optimizer.build(model.trainable_variables)
    for v in model.trainable_variables:  # non-zero values everywhere, so decay would show on every variable
        v.assign(keras.ops.ones_like(v))
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])
    shrunk = {v.path for v in model.trainable_variables if (keras.ops.convert_to_numpy(v) < before[v.path]).all()}
    kernels = {v.path for v in model.trainable_variables if v.path.endswith("kernel")}
    assert kernels and shrunk == kernels  # never gamma, beta or bias


def test_resuming_from_a_checkpoint_reproduces_the_next_epoch(tmp_path, fer2013, ferplus_votes):
    from engage.training.train import TrainConfig, train

    config = TrainConfig(data=fer2013, ferplus=ferplus_votes, epochs=2, limit=192, batch_size=64)
    straight = train(config, tmp_path / "straight", log=lambda _: None)
    # One epoch, a clean stop, then the same command resumes on (as it were) another machine.
    first = train(config, tmp_path / "resumed", log=lambda _: None, stop_requested=_after_epochs(1))
    assert first.epochs_done == 1
    resumed = train(config, tmp_path / "resumed", log=lambda _: None)
    assert resumed.epochs_done == 2
    for key in ("loss", "val_accuracy", "ema_val_accuracy"):
        assert resumed.history[1][key] == pytest.approx(straight.history[1][key], rel=1e-4, abs=1e-4), key


def _after_epochs(n: int):
    calls = iter(range(10**6))
    return lambda: next(calls) >= n


def test_light_augmentation_changes_faces_less_and_keeps_old_checkpoints_resumable(tmp_path):
    from engage.training.train import TrainConfig

    yy, xx = np.mgrid[0:48, 0:48]
    smooth = (127 + 100 * np.sin(xx / 7.0) * np.cos(yy / 9.0)).astype(np.uint8)  # shifts show as changes
    faces = np.repeat(smooth[None], 64, axis=0)
    strong = augment(faces, np.random.default_rng(5), "strong")
    light = augment(faces, np.random.default_rng(5), "light")
    change = lambda out: np.abs(out.astype(int) - faces).mean()  # noqa: E731
    assert 0 < change(light) < change(strong)
    base = TrainConfig(data=tmp_path / "fer2013.npz")
    assert "augmentation" not in base.fingerprint() and base.run_name() == "vgg40-lr0.02-seed2026-e140"
    lighter = TrainConfig(data=tmp_path / "fer2013.npz", augmentation="light")
    assert lighter.fingerprint()["augmentation"] == "light" and lighter.run_name().endswith("-light")


def _export(folder: Path, public_test: float, tag: str) -> Path:
    from engage.training.export import MODEL_FILES

    folder.mkdir(parents=True)
    for name in MODEL_FILES:
        (folder / name).write_text(tag)
    metrics = {"results": {"public_test": {"accuracy": public_test}, "private_test": {"accuracy": 0.99}}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_a_finished_run_replaces_the_shipped_model_only_if_it_beats_it_on_public_test(tmp_path):
    from engage.training.export import MODEL_FILES, ship_if_better

    models = _export(tmp_path / "models", 0.65, "shipped")
    said: list[str] = []
    worse = _export(tmp_path / "worse", 0.64, "worse")  # its PrivateTest figure is never looked at
    assert not ship_if_better(worse, models, log=said.append)
    assert (models / "engage-emotion.tflite").read_text() == "shipped" and (worse / "README.md").is_file()
    assert "not shipped: PublicTest 64.00% does not beat the shipped model's 65.00%" in said[-1]
    better = _export(tmp_path / "better", 0.66, "better")
    assert ship_if_better(better, models, log=said.append)
    assert all((models / n).read_text() == "better" for n in MODEL_FILES if n != "metrics.json")
    assert not any((better / n).exists() for n in MODEL_FILES)  # moved together, not copied
    assert "PublicTest 66.00% (the model it replaces: 65.00%)" in said[-1]
    # A first model ships whatever it scores.
    assert ship_if_better(_export(tmp_path / "first", 0.3, "first"), tmp_path / "empty", log=said.append)
