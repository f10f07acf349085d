"""Training, evaluation and export of the emotion model (needs Keras; TensorFlow for LiteRT export).

Training needs the `train` extra (TensorFlow, Keras, matplotlib), which a plain `pip install -e .` leaves
out; evaluation needs only the LiteRT runtime. `require_training_packages()` says so in one line.
"""

from __future__ import annotations

import importlib.util

# What `engage train` imports (keras on tensorflow; the export converts with tf.lite and draws with matplotlib).
TRAINING_PACKAGES = ("tensorflow", "keras", "matplotlib")


def missing_training_packages() -> list[str]:
    """The training packages that cannot be imported here, found without importing them (TensorFlow is slow)."""
    missing = []
    for name in TRAINING_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def install_command() -> str:
    """The one command that installs the training packages for this install of engage."""
    import shlex
    from pathlib import Path

    from engage.paths import REPO_ROOT, RESOURCES_ROOT

    if RESOURCES_ROOT == REPO_ROOT and (REPO_ROOT / "pyproject.toml").is_file():  # a checkout (pip install -e)
        target = '".[train]"' if Path.cwd().resolve() == REPO_ROOT else shlex.quote(f"{REPO_ROOT}[train]")
        return f"pip install -e {target}"
    return 'pip install "engage[train]"'


def require_training_packages(command: str = "engage train") -> None:
    """Raise EngageError naming the install command when a training package is missing."""
    from engage.errors import EngageError

    missing = missing_training_packages()
    if missing:
        raise EngageError(
            f"{command} needs TensorFlow, Keras and matplotlib, which a plain install leaves out "
            f"(missing: {', '.join(missing)}); install them with: {install_command()}"
        )
