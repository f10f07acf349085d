"""Shared fixtures: where the shared data and clips live, and a real SQLite path per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


from engage.paths import shared_data_dir, shared_videos_dir  # noqa: E402

# Property tests (tests/cli/test_properties.py): in CI a fixed seed and example count, so a run is repeatable
# and stays within its minute; by hand twice the examples on a new seed each run, or HYPOTHESIS_PROFILE=thorough.
try:
    from hypothesis import HealthCheck, settings

    _common = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}
    settings.register_profile("ci", max_examples=20, derandomize=True, print_blob=True, **_common)
    settings.register_profile("dev", max_examples=40, **_common)
    settings.register_profile("thorough", max_examples=400, **_common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
except ImportError:  # the property tests skip without Hypothesis
    pass


# Browser tests (tests/test_dashboard.py) run dash.testing's dash_duo on Debian's Chromium, headless unless
# ENGAGE_TEST_HEADED=1, so the README's plain `python3 -m pytest` needs no extra flags.
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "headless") and not os.environ.get("ENGAGE_TEST_HEADED"):
        config.option.headless = True


@pytest.hookimpl(optionalhook=True)
def pytest_setup_options():
    """The one Options object dash.testing starts Chrome with."""
    import shutil

    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    options.add_argument("--disable-background-networking")
    options.add_argument("--window-size=1400,1000")
    return options


@pytest.fixture(scope="session")
def fer2013() -> Path:
    path = shared_data_dir() / "fer2013.npz"
    if not path.is_file():
        pytest.skip(f"FER2013 not found at {path} (set ENGAGE_DATA to the folder holding fer2013.npz)")
    return path


@pytest.fixture(scope="session")
def ferplus_votes(fer2013: Path) -> Path:
    path = fer2013.with_name("ferplus_votes.npz")
    if not path.is_file():
        pytest.skip(f"FER+ votes not found at {path}")
    return path


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    path = shared_videos_dir()
    if not (path / "WolfgangLanger_Pexels.mp4").is_file():
        pytest.skip(f"shared face clips not found in {path} (set ENGAGE_VIDEOS)")
    return path


@pytest.fixture()
def engage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated user data folder, so tests never touch the real default database."""
    home = tmp_path / "engage-home"
    monkeypatch.setenv("ENGAGE_HOME", str(home))
    monkeypatch.setenv("ENGAGE_CACHE", str(tmp_path / "engage-cache"))
    return home


@pytest.fixture(scope="session")
def astronaut_bgr():
    import cv2
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
