"""The pilot gate of a training run: its PublicTest accuracy per epoch against the shipped model's run.

    python benchmarks/training_pilot.py [--run models/training/vgg40-seed2026-e140-ferplus] [--epoch 25]

Issue 17's rule: after ~25 epochs the new run must beat the shipped model's run at the same epoch by at
least 2 points of PublicTest accuracy before hours go into the long run. Reads the run's committed
checkpoint (its history) and models/metrics.json (the shipped run's history); trains nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import common  # noqa: F401

from engage.paths import MODELS_DIR

GATE_POINTS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=MODELS_DIR / "training" / "vgg40-seed2026-e140-ferplus")
    parser.add_argument("--epoch", type=int, default=25)
    args = parser.parse_args()

    from engage.training.train import CHECKPOINT_NAME, load_checkpoint

    meta, _ = load_checkpoint(args.run / CHECKPOINT_NAME)
    state = meta["state"]
    new = {row["epoch"]: row for row in state["history"]}
    old = {row["epoch"]: row for row in json.loads((MODELS_DIR / "metrics.json").read_text())["history"]}
    print(f"run {args.run.name}: {state['epochs_done']} of {meta['config']['epochs']} epochs, "
          f"{state['seconds'] / 3600:.2f} h wall, {state['cpu_seconds'] / 3600:.2f} CPU-hours")  # fmt: skip
    print("epoch  shipped run  new raw  new EMA  difference (best of new - shipped), points")
    for epoch in sorted(new):
        row, before = new[epoch], old.get(epoch)
        best = max(row["val_accuracy"], row["ema_val_accuracy"])
        shipped = f"{before['val_accuracy']:.4f}" if before else "   -  "
        diff = f"{100 * (best - before['val_accuracy']):+.1f}" if before else ""
        print(f"{epoch:5d}  {shipped:>11}  {row['val_accuracy']:.4f}   {row['ema_val_accuracy']:.4f}   {diff}")
    at = new.get(args.epoch)
    if at is None or args.epoch not in old:
        print(f"gate: epoch {args.epoch} not reached yet (or not in the shipped run's history)")
        return
    gain = 100 * (max(at["val_accuracy"], at["ema_val_accuracy"]) - old[args.epoch]["val_accuracy"])
    verdict = "PASSED" if gain >= GATE_POINTS else "FAILED: change the design before the long run"
    print(
        f"gate at epoch {args.epoch}: {gain:+.1f} points against the shipped run (needs +{GATE_POINTS:.0f}): {verdict}"
    )


if __name__ == "__main__":
    main()
