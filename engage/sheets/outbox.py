"""Google Sheets' place in the Store's outbox: consumer "sheets".

Once subscribed, every minute the Store writes and every change to a session is queued for Sheets in the
same transaction, and stays queued until the spreadsheet has it (engage.sheets.push). The subscription is
kept in the database, so every process writing to it (batch workers too) queues for Sheets.
"""

from __future__ import annotations

from typing import Any

from engage.config import SheetsConfig
from engage.store.database import Store

CONSUMER = "sheets"


def subscribe_if_configured(store: Store, sheets: SheetsConfig) -> None:
    """Queue every later write for Google Sheets once a spreadsheet is configured (the mirror on or not)."""
    if sheets.spreadsheet:
        store.subscribe(CONSUMER)


def outbox_summary(store: Store) -> dict[str, Any]:
    """What `engage export sheets --status` shows."""
    rows = store.outbox_status(CONSUMER)
    return {
        "pending_minutes": sum(r.minutes for r in rows),
        "pending_sessions": len(rows),
        "sessions": [r.to_dict() for r in rows],
    }
