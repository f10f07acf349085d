"""Where engage keeps things: the repo's models/ and migrations/, and the user's data directory."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = REPO_ROOT / "models"
MIGRATIONS_DIR = REPO_ROOT / "migrations"
DEFAULT_CONFIG = REPO_ROOT / "config.yaml"


def data_dir() -> Path:
    """The user's engage data directory ($ENGAGE_HOME overrides the platform default)."""
    return Path(os.environ.get("ENGAGE_HOME") or user_data_dir("engage", appauthor=False))


def cache_dir() -> Path:
    return Path(os.environ.get("ENGAGE_CACHE") or user_cache_dir("engage", appauthor=False))
