"""Export a session's per-minute metrics to CSV, Parquet or JSON files.

A minute is MinuteMetrics' flat row everywhere (engage.minutes.metrics.ROW_COLUMNS: ``minute`` 1-based, one
``mean_<emotion>`` and one ``share_<emotion>`` column per emotion): CSV and Parquet rows are ``session_id``,
``session_name`` and that row; JSON is the session with a ``minutes`` list of those rows.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

from engage.errors import EngageError
from engage.minutes.metrics import ROW_COLUMNS
from engage.store.database import Store
from engage.store.schema import SessionInfo

FORMATS = ("csv", "parquet", "json")


def minutes_frame(store: Store, session: SessionInfo) -> pd.DataFrame:
    """One row per minute, with the session's id and name first (the columns are there without minutes too)."""
    frame = pd.DataFrame([m.to_row() for m in store.minutes(session.id)], columns=list(ROW_COLUMNS))
    frame.insert(0, "session_name", session.name)
    frame.insert(0, "session_id", session.id)
    return frame


def default_filename(session: SessionInfo, fmt: str) -> str:
    """``<session name as a safe slug>-<id>.<fmt>``, the name an export gets when none is given."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", session.name).strip("-") or "session"
    return f"{slug}-{session.id}.{fmt}"


def export_session(store: Store, session: SessionInfo, fmt: str, output: Path | None) -> Path | None:
    """Write the export; CSV and JSON go to stdout when ``output`` is None. Returns the file written."""
    if fmt not in FORMATS:
        raise EngageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        minutes = [m.to_row() for m in store.minutes(session.id)]
        text = json.dumps({**session.to_dict(), "minutes": minutes}, indent=2)
        if output is None:
            sys.stdout.write(text + "\n")
            return None
        output.write_text(text + "\n")
        return output
    frame = minutes_frame(store, session)
    if fmt == "csv":
        if output is None:
            frame.to_csv(sys.stdout, index=False)
            return None
        frame.to_csv(output, index=False)
        return output
    output = output or Path(default_filename(session, fmt))
    frame.to_parquet(output, index=False)
    return output
