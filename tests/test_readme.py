"""The README tells a newcomer what the suite needs from the system and what the model's data is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def ci_system_packages() -> set[str]:
    """Every package `.ci/run` installs with apt-get."""
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    found = set()
    for line in re.findall(r"apt-get install ([^\n]+)", script):
        found |= {word for word in line.split() if not word.startswith("-")}
    return found


def development_section() -> str:
    return README.split("## Development", 1)[1].split("\n## ", 1)[0]


def test_the_readme_names_every_system_package_ci_installs_for_the_tests() -> None:
    packages = ci_system_packages()
    assert {"chromium", "chromium-driver", "xvfb", "python3-tk", "postgresql"} <= packages
    install = re.search(r"apt-get install ([^\n#]+)", development_section())
    assert install, "the Development section gives no apt-get command"
    assert packages <= set(install.group(1).split()), packages - set(install.group(1).split())
    quick_start = README.split("\n## ", 1)[0]  # the commands a newcomer copies first
    assert all(p in quick_start for p in packages), "the quick start does not say what the skipped tests need"


def test_the_readme_says_what_fer2013_is_and_how_to_make_the_file_engage_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = README.split("### Data for measuring and training", 1)[1].split("\n## ", 1)[0]
    assert "35,887" in section and "ENGAGE_DATA" in section and "--data" in section
    snippet = re.search(r"```python\n(.+?)```", section, re.S)
    assert snippet, "no recipe for fer2013.npz"
    pd = pytest.importorskip("pandas")
    import numpy as np

    from engage.training.data import load_split

    # A small fer2013.csv in Kaggle's layout; the README's recipe turns it into the file engage reads.
    usage = ["Training"] * 3 + ["PublicTest"] * 2 + ["PrivateTest"]
    pixels = [" ".join(str((i * 31 + j) % 256) for j in range(48 * 48)) for i in range(len(usage))]
    frame = pd.DataFrame({"emotion": [i % 7 for i in range(len(usage))], "pixels": pixels, "Usage": usage})
    frame.to_csv(tmp_path / "fer2013.csv", index=False)
    monkeypatch.chdir(tmp_path)
    exec(snippet.group(1), {})
    test = load_split(tmp_path / "fer2013.npz", "test")
    assert test.faces.shape == (1, 48, 48) and test.faces.dtype == np.uint8 and test.labels.tolist() == [5]
    assert load_split(tmp_path / "fer2013.npz", "train").labels.tolist() == [0, 1, 2]
    assert test.faces[0, 0, 1] == (5 * 31 + 1) % 256  # pixels in row order


def test_missing_fer2013_explains_what_it_is_and_how_to_point_engage_at_it(tmp_path: Path) -> None:
    from engage.errors import NotFound
    from engage.training.data import load_split

    with pytest.raises(NotFound) as raised:
        load_split(tmp_path / "fer2013.npz", "test")
    message = str(raised.value)
    assert str(tmp_path / "fer2013.npz") in message and "35,887" in message and "7 emotions" in message
    assert "ENGAGE_DATA" in message and "README: Data for measuring and training" in message
    assert "engage " not in message and "--" not in message  # the command line adds its own hint
    assert "### Data for measuring and training" in README


def test_engage_evaluate_without_the_data_says_what_it_needs_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    missing = tmp_path / "nowhere" / "fer2013.npz"
    result = subprocess.run(
        [sys.executable, "-m", "engage", "evaluate", "--data", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ENGAGE_HOME": str(tmp_path / "home")},
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"FER2013 data not found at {missing}" in lines[0] and "35,887" in lines[0] and "ENGAGE_DATA" in lines[0]
