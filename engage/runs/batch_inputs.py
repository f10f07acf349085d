"""Which files a batch analyses (paths, folders, globs) and the session name each one gets."""

from __future__ import annotations

import glob
import os
import re
import string
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from engage.errors import EngageError

# Suffixes picked up from folders and globs (a file named explicitly is always taken).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".3gp"}
)
NAME_FIELDS: dict[str, str] = {
    "stem": "file name without suffix (lecture-03)",
    "name": "file name (lecture-03.mp4)",
    "suffix": "suffix without the dot (mp4)",
    "parent": "name of the folder holding the file (week1)",
    "folder": "full path of that folder",
    "index": "1-based position of the file in the batch",
    "date": "file modification date, YYYY-MM-DD",
}
DEFAULT_NAME_PATTERN = "{stem}"


def expand_inputs(specs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named by ``specs`` (files, folders searched recursively, globs), in order, without repeats.

    Returns (files, problems): a spec that names nothing gives (spec, one line) in ``problems``.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def take(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for spec in specs:
        text = os.path.expanduser(str(spec))
        path = Path(text)
        if path.is_file():
            take(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not found:
                problems.append((text, f"no video files in folder {path}"))
            for p in found:
                take(p)
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True))
            videos = [p for p in found if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
            if not videos:
                problems.append((text, f"no video files match {text}"))
            for p in videos:
                take(p)
        else:
            problems.append((text, f"no such file or folder: {text}"))
    return files, problems


# A field's format spec: alignment, zero padding and a width of up to 3 digits ({index:03}, {stem:>20}).
_FORMAT_SPEC = re.compile(r"(.?[<>^=])?0?\d{0,3}[sd]?")
MAX_NAME_CHARS = 1000


def skipped_in_folders(specs: Sequence[str | Path]) -> list[tuple[Path, int, list[str]]]:
    """For each folder named by ``specs``: (folder, how many files in it are not videos, their suffixes).

    A batch over a folder takes only the video files in it; this says what it left, so nothing is
    skipped without a word. Folders with nothing left out are not listed.
    """
    found: list[tuple[Path, int, list[str]]] = []
    for spec in specs:
        folder = Path(os.path.expanduser(str(spec)))
        if not folder.is_dir():
            continue
        others = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() not in VIDEO_SUFFIXES]
        if others:
            suffixes = sorted({p.suffix.lower() or "(none)" for p in others})
            found.append((folder, len(others), suffixes))
    return found


def check_name_pattern(pattern: str) -> None:
    """Raise a one-line EngageError if ``pattern`` uses a field that does not exist or is malformed.

    Only the plain fields are allowed: no attribute or item access ({stem.__class__}), no conversions, no
    nested or huge widths ({stem:>999999999} would build a gigabyte string).
    """
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise EngageError(f"bad name pattern {pattern!r}: {exc}") from None
    for _literal, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in NAME_FIELDS:
            raise EngageError(
                f"unknown field {{{field}}} in the name pattern {pattern!r}; use {', '.join(NAME_FIELDS)}"
            )
        if (
            conversion is not None
            or not _FORMAT_SPEC.fullmatch(spec or "")
            or ("d" in (spec or "") and field != "index")
        ):
            raise EngageError(
                f"bad name pattern {pattern!r}: {{{field}}} takes at most an alignment and a width, e.g. {{index:03}}"
            )
    try:  # what parses can still be refused for the field's type ({stem:03}: no zero padding of text)
        pattern.format(**{k: "x" for k in NAME_FIELDS} | {"index": 1})
    except ValueError as exc:
        raise EngageError(f"bad name pattern {pattern!r}: {exc}") from None


def session_name(path: Path, index: int, pattern: str = DEFAULT_NAME_PATTERN) -> str:
    """The session name for a file: ``pattern`` with the NAME_FIELDS filled in."""
    try:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")
    except OSError:
        mtime = ""
    fields = {
        "stem": path.stem,
        "name": path.name,
        "suffix": path.suffix.lstrip("."),
        "parent": path.resolve().parent.name,
        "folder": str(path.resolve().parent),
        "index": index,
        "date": mtime,
    }
    return pattern.format(**fields)[:MAX_NAME_CHARS]
