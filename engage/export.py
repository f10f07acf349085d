"""Export a session's per-minute metrics to CSV, Parquet or JSON files.

A minute is MinuteMetrics' flat row everywhere (engage.minutes.metrics.ROW_COLUMNS: ``minute`` 1-based, one
``mean_<emotion>`` and one ``share_<emotion>`` column per emotion, then the newer columns such as the head pose
ones, ``people`` and ``attention_facing``/``_down``/``_away``): CSV and Parquet rows are ``session_id``,
``session_name`` and that row; JSON is the session with a ``minutes`` list of those rows. A figure nothing
measured (a minute stored before engage measured it) is an empty cell, a Parquet null, JSON null.

CSV files are opened by spreadsheets, which run a cell starting with ``=``, ``+``, ``-`` or ``@`` as a formula:
text cells (a session called ``=HYPERLINK(...)``) get a leading ``'`` there, so they stay text (``csv_text``).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import sys
from pathlib import Path

import pandas as pd

from engage.errors import EngageError
from engage.minutes.metrics import FLOAT_COLUMNS, OPTIONAL_INT_COLUMNS, ROW_COLUMNS
from engage.safetext import spreadsheet_text, terminal_safe
from engage.store.database import Store
from engage.store.schema import SessionInfo

FORMATS = ("csv", "parquet", "json")


def minutes_frame(store: Store, session: SessionInfo) -> pd.DataFrame:
    """One row per minute, with the session's id and name first (the columns are there without minutes too)."""
    frame = pd.DataFrame([m.to_row() for m in store.minutes(session.id)], columns=list(ROW_COLUMNS))
    # Numbers stay numbers when a column has none (minutes stored before the intervals): NaN, not None objects;
    # a count that may be missing (people) stays a whole number, as pandas' nullable Int64.
    # The dominant emotion is text even when every minute hides it (else Parquet would type the column null).
    frame = frame.astype(
        {
            **dict.fromkeys(FLOAT_COLUMNS, "float64"),
            **dict.fromkeys(OPTIONAL_INT_COLUMNS, "Int64"),
            "dominant_emotion": "string",
        }
    )
    frame.insert(0, "session_name", session.name)
    frame.insert(0, "session_id", session.id)
    return frame


def default_filename(session: SessionInfo, fmt: str) -> str:
    """``<session name as a safe slug>-<id>.<fmt>``, the name an export gets when none is given."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", session.name).strip("-") or "session"
    return f"{slug}-{session.id}.{fmt}"


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV: text cells quoted, and those a spreadsheet would run as a formula made plain text."""
    safe = frame.copy()
    for column in safe.columns:
        values = safe[column]
        if pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):  # -0.2 stays a number
            safe[column] = safe[column].map(spreadsheet_text)
    buffer = io.StringIO()
    # Text quoted always: a name holding a lone carriage return (or any line break) stays one cell.
    safe.to_csv(buffer, index=False, quoting=csv.QUOTE_NONNUMERIC)
    return buffer.getvalue()


def write_file(output: Path, data: bytes) -> None:
    """Write ``data`` to ``output``; a folder, a missing folder or a refused write is one clear EngageError."""
    if output.is_dir():
        raise EngageError(f"cannot write {output}: it is a folder (give a file name)")
    if not output.parent.is_dir():
        raise EngageError(f"cannot write {output}: no such folder {output.parent}")
    try:
        # Non-blocking open: a FIFO nobody reads is refused at once (ENXIO) instead of waiting forever.
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        reason = "nothing reads from it" if exc.errno == errno.ENXIO else exc.strerror or exc
        raise EngageError(f"cannot write {output}: {reason}") from None
    try:
        os.set_blocking(fd, True)  # (a FIFO with a reader: wait for it as a pipe does)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise EngageError(f"cannot write {output}: {exc.strerror or exc}") from None


def export_session(store: Store, session: SessionInfo, fmt: str, output: Path | None) -> Path | None:
    """Write the export; CSV and JSON go to stdout when ``output`` is None. Returns the file written."""
    if fmt not in FORMATS:
        raise EngageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        minutes = [m.to_row() for m in store.minutes(session.id)]
        text = json.dumps({**session.to_dict(), "minutes": minutes}, indent=2) + "\n"
    else:
        frame = minutes_frame(store, session)
        if fmt == "parquet":
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            output = output or Path(default_filename(session, fmt))
            write_file(output, buffer.getvalue())
            return output
        text = csv_text(frame)
    if output is None:
        # On a terminal a name's escape sequences would act: shown escaped there; a pipe or file gets the data.
        sys.stdout.write(terminal_safe(text) if sys.stdout.isatty() else text)
        return None
    write_file(output, text.encode("utf-8"))
    return output
