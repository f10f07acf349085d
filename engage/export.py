"""Export a session's per-minute metrics to CSV, Parquet or JSON files."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

from engage.errors import EngageError
from engage.store.database import SessionInfo, Store, minute_to_dict

FORMATS = ("csv", "parquet", "json")


def minutes_frame(store: Store, session: SessionInfo) -> pd.DataFrame:
    """One row per minute, with the session's id and name first."""
    rows = [minute_to_dict(m) for m in store.minutes(session.id)]
    frame = pd.DataFrame(rows)
    frame.insert(0, "session_name", session.name)
    frame.insert(0, "session_id", session.id)
    return frame


def _default_name(session: SessionInfo, fmt: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", session.name).strip("-") or "session"
    return Path(f"{slug}-{session.id}.{fmt}")


def export_session(store: Store, session: SessionInfo, fmt: str, output: Path | None) -> Path | None:
    """Write the export; CSV and JSON go to stdout when ``output`` is None. Returns the file written."""
    if fmt not in FORMATS:
        raise EngageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        text = json.dumps(
            {**session.to_dict(), "minutes": [minute_to_dict(m) for m in store.minutes(session.id)]}, indent=2
        )
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
    output = output or _default_name(session, fmt)
    frame.to_parquet(output, index=False)
    return output
