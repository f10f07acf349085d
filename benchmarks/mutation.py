"""Mutation testing (mutmut) of the modules whose numbers users read: does a test fail when the code is wrong?

    pip install mutmut                          # not part of [dev]: run by hand, never in CI
    python benchmarks/mutation.py               # aggregation, config validation, the minute codec
    python benchmarks/mutation.py aggregate     # one target; --children N for parallel workers

Each target is a module and the tests that check its values. mutmut runs in a copy of the working tree (in a
temporary folder, so nothing is left here), mutates the module one change at a time (`>` to `>=`, a constant
off by one, a swapped argument ...) and runs the tests that cover the changed function. A mutant the tests
still pass ("survived") is a change no test notices. Prints the score (killed / all that ran) and lists the
survivors with their diff; the targets: >= 90% on aggregation and config validation.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TARGETS = {
    "aggregate": ("engage/minutes/aggregate.py", ["tests/minutes"]),
    "config": ("engage/config.py", ["tests/test_config.py"]),
    "metrics": ("engage/minutes/metrics.py", ["tests/minutes/test_metrics.py", "tests/minutes/test_aggregate.py"]),
}


def working_tree_copy(dest: Path) -> None:
    """The tracked and untracked (not ignored) files of the checkout, as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = REPO / name.decode()
        if source.is_file() and not name.startswith(b"models/training/"):
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def run_target(name: str, children: int) -> tuple[int, int, list[str]]:
    module, tests = TARGETS[name]
    with tempfile.TemporaryDirectory(prefix=f"engage-mutmut-{name}-") as folder:
        root = Path(folder)
        working_tree_copy(root)
        (root / "setup.cfg").write_text(
            "[mutmut]\n"
            "source_paths=engage\n"
            f"only_mutate={module}\n"
            "also_copy=\n  tests\n  config.yaml\n  migrations\n  models\n"
            "pytest_add_cli_args_test_selection=\n"
            + "".join(f"  {test}\n" for test in tests)
            + "pytest_add_cli_args=\n  -p\n  no:cacheprovider\n"
            "use_git_change_detection=false\n"
        )
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(children)], cwd=root)
        results = subprocess.run(
            [sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=root, capture_output=True, text=True
        ).stdout
        statuses: dict[str, str] = {}
        for line in results.splitlines():
            mutant, _, status = line.strip().rpartition(": ")
            if mutant:
                statuses[mutant] = status
        killed = sum(status in ("killed", "timeout", "segfault") for status in statuses.values())
        ran = sum(status not in ("not checked", "skipped", "no tests") for status in statuses.values())
        survivors = sorted(m for m, status in statuses.items() if status == "survived")
        untested = sorted(m for m, status in statuses.items() if status == "no tests")
        print(f"\n== {name} ({module}): {killed}/{ran} killed", end="")
        print(f" = {killed / ran:.1%}" if ran else "", f"in {time.monotonic() - started:.0f} s")
        if untested:
            print(f"   no test covers {len(untested)}: {', '.join(untested)}")
        for mutant in survivors:
            diff = subprocess.run(
                [sys.executable, "-m", "mutmut", "show", mutant], cwd=root, capture_output=True, text=True
            ).stdout
            print(f"-- survived: {mutant}\n{diff}")
        return killed, ran, survivors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", choices=[*TARGETS, []], default=list(TARGETS))
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once")
    args = parser.parse_args()
    summary = {name: run_target(name, args.children) for name in args.targets or TARGETS}
    print("\nmutation score")
    for name, (killed, ran, survivors) in summary.items():
        score = f"{killed / ran:.1%}" if ran else "n/a"
        print(f"  {name:10s} {killed:4d}/{ran:<4d} {score:>6s}   survivors: {len(survivors)}")


if __name__ == "__main__":
    main()
