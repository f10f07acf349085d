"""`engage train`: reproducible, resumable training of the emotion CNN with Keras 3.

Each epoch: augment the training faces with a generator seeded by (seed, epoch), run one
`fit` epoch, score PublicTest, and checkpoint (model + optimizer + history) atomically. Rerunning
the same command resumes after the last finished epoch; a finished run only re-exports.
PrivateTest is never read here: it is for `engage evaluate` and the model card.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engage.errors import EngageError
from engage.paths import file_sha256
from engage.preprocess import prepare_faces
from engage.training.data import augment, load_split, training_targets


@dataclass
class TrainConfig:
    data: Path
    ferplus: Path | None = None
    ferplus_weight: float = 0.4
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: int = 2
    seed: int = 2026
    limit: int | None = None  # train on the first N images only (smoke tests)

    def fingerprint(self) -> dict:
        """The settings a resumed run must share with the checkpoint it resumes."""
        d = asdict(self)
        d["data"] = str(self.data)
        d["ferplus"] = str(self.ferplus) if self.ferplus else None
        return d


@dataclass
class TrainState:
    epochs_done: int = 0
    best_epoch: int = -1
    best_val_accuracy: float = 0.0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save_model(model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def _compile(model, config: TrainConfig, steps_per_epoch: int) -> None:
    import keras

    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(total - 1, config.warmup_epochs * steps_per_epoch)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * 0.1,
        decay_steps=max(1, total - warmup),
        alpha=0.0,
        warmup_target=config.learning_rate,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.SGD(
        learning_rate=schedule, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
    )
    optimizer.exclude_from_weight_decay(var_names=["_bn", "bias"])
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])


def train(
    config: TrainConfig,
    checkpoint_dir: Path,
    log: Callable[[str], None] = print,
    max_steps: int | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> TrainState:
    """Train (or resume) into ``checkpoint_dir``; returns the state after the last epoch.

    ``max_steps`` caps the batches per epoch (for smoke tests only); ``on_batch(epoch, batch,
    steps)`` is called after every training batch (for progress bars).
    """
    import keras

    from engage.training.model import build_model

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    state_path, last_path = checkpoint_dir / "state.json", checkpoint_dir / "last.keras"
    train_split = load_split(config.data, "train", config.ferplus)
    val_split = load_split(config.data, "val")
    targets, keep = training_targets(train_split, config.ferplus_weight if config.ferplus else 0.0)
    faces = train_split.faces[keep]
    targets = targets[keep]
    if config.limit:
        faces, targets = faces[: config.limit], targets[: config.limit]
    steps = int(np.ceil(len(faces) / config.batch_size))
    if max_steps:
        steps = min(steps, max_steps)
    val_x = prepare_faces(val_split.faces)

    state = TrainState()
    if state_path.exists() and last_path.exists():
        saved = json.loads(state_path.read_text())
        if saved["config"] != config.fingerprint():
            raise EngageError(
                f"{checkpoint_dir} holds a run with other settings; pass another --checkpoint-dir or delete it"
            )
        state = TrainState(**saved["state"])
        model = keras.models.load_model(last_path)
        log(f"resuming after epoch {state.epochs_done} of {config.epochs} from {last_path}")
    else:
        keras.utils.set_random_seed(config.seed)
        model = build_model()
        _compile(model, config, steps)
        log(
            f"training {model.count_params():,} parameters on {len(faces):,} faces "
            f"({'FER+ soft labels' if config.ferplus else 'FER2013 labels'}), {config.epochs} epochs"
        )

    for epoch in range(state.epochs_done, config.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(len(faces))[: steps * config.batch_size]
        x = prepare_faces(augment(faces[order], rng))
        keras.utils.set_random_seed(config.seed * 1000 + epoch)
        callbacks = []
        if on_batch is not None:
            callbacks.append(
                keras.callbacks.LambdaCallback(
                    on_train_batch_end=lambda batch, logs, epoch=epoch: on_batch(epoch + 1, batch + 1, steps)
                )
            )
        result = model.fit(
            x,
            targets[order],
            batch_size=config.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            verbose=0,
            callbacks=callbacks,
        )
        probabilities = model.predict(val_x, batch_size=512, verbose=0)
        val_accuracy = float((probabilities.argmax(1) == val_split.labels).mean())
        val_loss = float(-np.log(np.clip(probabilities[np.arange(len(val_x)), val_split.labels], 1e-7, 1)).mean())
        seconds = time.perf_counter() - started
        row = {
            "epoch": epoch + 1,
            "loss": float(result.history["loss"][-1]),
            "accuracy": float(result.history["accuracy"][-1]),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "learning_rate": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
            "seconds": seconds,
        }
        state.history.append(row)
        state.epochs_done = epoch + 1
        state.seconds += seconds
        if val_accuracy > state.best_val_accuracy:
            state.best_val_accuracy, state.best_epoch = val_accuracy, epoch + 1
            _save_model(model, checkpoint_dir / "best.keras")
        _save_model(model, last_path)
        _atomic_write_text(state_path, json.dumps({"config": config.fingerprint(), "state": asdict(state)}, indent=1))
        eta = (config.epochs - state.epochs_done) * state.seconds / max(1, len(state.history))
        log(
            f"epoch {epoch + 1}/{config.epochs}  loss {row['loss']:.3f}  train acc {row['accuracy']:.3f}  "
            f"PublicTest acc {val_accuracy:.4f} (best {state.best_val_accuracy:.4f} @ {state.best_epoch})  "
            f"{seconds:.0f}s  ETA {eta / 60:.0f} min"
        )
    return state


def data_checksums(config: TrainConfig) -> dict[str, str]:
    sums = {config.data.name: file_sha256(config.data)}
    if config.ferplus:
        sums[config.ferplus.name] = file_sha256(config.ferplus)
    return sums
