"""Where engage keeps things: the repo's models/ and migrations/, and the user's data directory."""

from __future__ import annotations

import hashlib
import os
import site
import sys
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir

REPO_ROOT = Path(__file__).resolve().parent.parent


def _resources_root() -> Path:
    """The checkout (an editable install), else where a wheel put models/, migrations/ and config.yaml.

    pyproject.toml installs them as data files under <prefix>/share/engage, since the layout keeps them
    beside the package rather than inside it.
    """
    installed = [Path(prefix) / "share" / "engage" for prefix in (sys.prefix, site.getuserbase())]
    for root in [REPO_ROOT, *installed]:
        if (root / "migrations" / "env.py").is_file():
            return root
    return REPO_ROOT


RESOURCES_ROOT = _resources_root()
MODELS_DIR = RESOURCES_ROOT / "models"
MIGRATIONS_DIR = RESOURCES_ROOT / "migrations"
DEFAULT_CONFIG = RESOURCES_ROOT / "config.yaml"


def data_dir() -> Path:
    """The user's engage data directory ($ENGAGE_HOME overrides the platform default)."""
    return Path(os.environ.get("ENGAGE_HOME") or user_data_dir("engage", appauthor=False))


def cache_dir() -> Path:
    return Path(os.environ.get("ENGAGE_CACHE") or user_cache_dir("engage", appauthor=False))


def expand_user(path: str | os.PathLike[str]) -> Path:
    """`path` with a leading ~ or ~user made the home folder, or as given where there is none ("~0", a user who
    does not exist): unlike Path.expanduser, which raises RuntimeError there."""
    return Path(os.path.expanduser(os.fspath(path)))


def shared_data_dir() -> Path:
    """The folder of fer2013.npz and face_detect/: $ENGAGE_DATA (a folder, or a file in it), else ../shared/data."""
    env = os.environ.get("ENGAGE_DATA")
    if env:
        # A file in the folder names the folder; anything else (a missing path too) is taken as the folder, so
        # what is missing is reported as given rather than as its parent.
        return Path(env).parent if Path(env).is_file() else Path(env)
    return REPO_ROOT.parent / "shared" / "data"


def shared_videos_dir() -> Path:
    """The folder holding the shared face clips: $ENGAGE_VIDEOS, else ../shared/videos."""
    return Path(os.environ.get("ENGAGE_VIDEOS") or REPO_ROOT.parent / "shared" / "videos")


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks (videos can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
