"""CPU seconds of `engage analyze` on one clip: this checkout against another revision, alternated.

    git worktree add /tmp/engage-before <rev>
    python benchmarks/analysis_cpu.py --baseline /tmp/engage-before [--clip lecture.mp4] [--rounds 5]

Each round runs the two trees one after the other in fresh processes (the baseline through PYTHONPATH) on
the same clip (default: a 2-minute 720p30 clip of 4 real faces made by tests/clips.py) and reads the
processes' user + system CPU time, which a busy machine disturbs much less than wall time. Prints the
median of each and the change. Used for refactors that must not cost analysis speed (within 5%).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

sys.path.insert(0, str(common.REPO / "tests"))


def check_baseline(tree: Path) -> None:
    """Stop unless `engage` imported with PYTHONPATH=tree comes from tree (a missing or moved baseline would
    otherwise silently measure this checkout twice: the editable install is found instead)."""
    done = subprocess.run(
        [sys.executable, "-c", "import engage; print(engage.__file__)"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tree)}, cwd="/",
    )  # fmt: skip
    found = Path(done.stdout.strip() or ".").resolve()
    if done.returncode != 0 or tree.resolve() not in found.parents:
        raise SystemExit(f"the baseline {tree} does not provide engage (imported from {found}); check the path")


def run(tree: Path | None, clip: Path, folder: Path) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one `engage analyze` in a fresh process."""
    db = folder / "engage.db"
    db.unlink(missing_ok=True)
    env = {**os.environ, "ENGAGE_HOME": str(folder), "PYTHONPATH": str(tree) if tree else ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "engage", "analyze", str(clip), "--db", str(db), "--json"],
        capture_output=True, text=True, env=env, cwd=folder,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"engage analyze failed ({tree or 'this checkout'}): {done.stderr.strip()[-500:]}")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the revision to compare with")
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    check_baseline(args.baseline)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = args.clip
        if clip is None:
            from clips import make_clip

            clip = make_clip(folder / "lecture.mp4", 120, fps=30, size=(1280, 720), faces=4)
        times: dict[str, list[tuple[float, float]]] = {"baseline": [], "this checkout": []}
        for _ in range(args.rounds):
            times["baseline"].append(run(args.baseline.resolve(), clip, folder))
            times["this checkout"].append(run(None, clip, folder))
    print(f"clip {clip.name}, {args.rounds} rounds, load average {os.getloadavg()[0]:.2f}")
    medians = {}
    for name, rows in times.items():
        medians[name] = statistics.median(cpu for cpu, _ in rows)
        wall = statistics.median(w for _, w in rows)
        print(f"{name:14s} CPU {medians[name]:6.2f} s (median)   wall {wall:6.2f} s (median)")
    change = 100 * (medians["this checkout"] / medians["baseline"] - 1)
    print(f"change in CPU time: {change:+.1f}%")


if __name__ == "__main__":
    main()
