"""The pilot gate of training runs: PublicTest accuracy per epoch against the shipped model's run.

    python benchmarks/training_pilot.py [--run models/training/RUN_OR_RECORD ...] [--epoch 25]

Issue 17's rule: after ~25 epochs a new run must beat the shipped model's run at the same epoch by at least
2 points of PublicTest accuracy before hours go into the long run. Reads each run's committed checkpoint
(models/training/RUN/checkpoint.npz) or a pilot's record (models/training/pilots/*.json: the same history
without the weights) and models/metrics.json (the shipped run's history); trains nothing. Default: every
run and pilot record under models/training/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common  # noqa: F401

from engage.paths import MODELS_DIR

GATE_POINTS = 2.0


def load_run(path: Path) -> dict:
    """{"config": ..., "state": ...} of a checkpoint folder or a pilot record."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    from engage.training.train import CHECKPOINT_NAME, load_checkpoint

    meta, _ = load_checkpoint(path / CHECKPOINT_NAME)
    return meta


def report(name: str, meta: dict, old: dict[int, dict], gate_epoch: int) -> None:
    state, config = meta["state"], meta["config"]
    new = {row["epoch"]: row for row in state["history"]}
    done = f"{state['epochs_done']} of {config['epochs']} epochs"
    hours = f"{state['seconds'] / 3600:.2f} h wall, {state['cpu_seconds'] / 3600:.2f} CPU-hours"
    print(f"\n{name}: peak learning rate {config['learning_rate']}, {done}, {hours}")
    print("epoch  shipped run  new raw  new EMA  best of new - shipped, points")
    for epoch in sorted(new):
        row, before = new[epoch], old.get(epoch)
        best = max(row["val_accuracy"], row["ema_val_accuracy"])
        shipped = f"{before['val_accuracy']:.4f}" if before else "   -  "
        diff = f"{100 * (best - before['val_accuracy']):+.1f}" if before else ""
        print(f"{epoch:5d}  {shipped:>11}  {row['val_accuracy']:.4f}   {row['ema_val_accuracy']:.4f}   {diff}")
    at = new.get(gate_epoch)
    if at is None or gate_epoch not in old:
        print(f"gate: epoch {gate_epoch} not reached yet")
        return
    gain = 100 * (max(at["val_accuracy"], at["ema_val_accuracy"]) - old[gate_epoch]["val_accuracy"])
    verdict = "PASSED" if gain >= GATE_POINTS else "FAILED: change the design before the long run"
    print(
        f"gate at epoch {gate_epoch}: {gain:+.1f} points against the shipped run (needs +{GATE_POINTS:.0f}):", verdict
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, action="append", help="a checkpoint folder or a pilot record (.json)")
    parser.add_argument("--epoch", type=int, default=25)
    args = parser.parse_args()
    root = MODELS_DIR / "training"
    runs = args.run or sorted([*root.glob("*/checkpoint.npz"), *root.glob("pilots/*.json")])
    runs = [r.parent if r.name == "checkpoint.npz" else r for r in runs]
    if not runs:
        print(f"no training runs under {root}")
        return
    old = {row["epoch"]: row for row in json.loads((MODELS_DIR / "metrics.json").read_text())["history"]}
    for run in runs:
        report(run.stem if run.suffix == ".json" else run.name, load_run(run), old, args.epoch)


if __name__ == "__main__":
    main()
