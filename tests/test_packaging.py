"""A plain `pip install -e .` has no TensorFlow, Keras or matplotlib (the [train] extra): analysis, the
dashboard, batch, recording and Sheets never import them, and `engage train` says what to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TRAINING = ("tensorflow", "keras", "matplotlib")

# Run before the code under test: makes the training packages impossible to import, as in an install without
# the [train] extra (a finder ahead of the real ones refuses them).
BLOCK_TRAINING = f"""
import importlib.abc, runpy, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {TRAINING!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())
"""


def _python(code: str, *args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def _engage_without_training(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    code = BLOCK_TRAINING + f"sys.argv = ['engage', *{list(args)!r}]\nrunpy.run_module('engage', run_name='__main__')"
    return _python(code, cwd=cwd, env=env)


def test_train_without_the_train_extra_names_the_one_command(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint"
    result = _engage_without_training("train", "--limit", "10", "--checkpoint-dir", str(checkpoint))
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "missing: tensorflow, keras, matplotlib" in lines[0]
    assert lines[0].endswith('install them with: pip install -e ".[train]"'), lines[0]
    assert not checkpoint.exists()

    elsewhere = _engage_without_training("train", "--checkpoint-dir", str(checkpoint), cwd=tmp_path)
    assert elsewhere.returncode == 1 and f"pip install -e '{REPO}[train]'" in elsewhere.stderr, elsewhere.stderr


def test_evaluate_needs_only_the_litert_runtime(fer2013: Path) -> None:
    import json

    result = _engage_without_training("evaluate", "--data", str(fer2013), "--split", "val", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["n"] == 3589


def test_install_command_for_a_checkout_and_for_a_wheel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from engage import paths
    from engage.training import install_command

    monkeypatch.chdir(REPO)
    assert install_command() == 'pip install -e ".[train]"'
    monkeypatch.setattr(paths, "RESOURCES_ROOT", tmp_path / "share" / "engage")  # installed from a wheel
    assert install_command() == 'pip install "engage[train]"'


def test_the_demo_runs_without_importing_training_packages(tmp_path: Path) -> None:
    """`engage demo` (decode, detect, classify, aggregate, store) imports none of them, even where installed."""
    code = "import runpy, sys\nsys.argv = ['engage', 'demo']\nrunpy.run_module('engage', run_name='__main__')"
    result = _python(code, "-X", "importtime", env={"ENGAGE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import ")}
    assert "engage.vision.classifier" in imported  # the analysis really ran in this process
    assert not {name for name in imported if name.partition(".")[0] in TRAINING}


def test_dashboard_batch_recorder_and_sheets_import_no_training_packages(tmp_path: Path) -> None:
    code = f"""
import importlib, json, sys
for name in ("engage.cli", "engage.runs.analyze", "engage.runs.batch", "engage.runs.recorder", "engage.sheets.client",
             "engage.export", "engage.vision.photos", "engage.vision.annotate", "engage.training.evaluate"):
    importlib.import_module(name)
from dashboards.app import create_app
from engage.config import load_config
client = create_app({str(tmp_path / "engage.db")!r}, load_config(environ={{}})).server.test_client()
assert client.get("/").status_code == 200
print(json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] in {TRAINING!r})))
"""
    for blocked in (False, True):  # installed (nothing imports them) and absent (nothing needs them)
        result = _python((BLOCK_TRAINING if blocked else "") + code)
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().splitlines()[-1] == "[]"
