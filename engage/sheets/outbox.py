"""The Google Sheets outbox: which minutes and session summaries are not in the spreadsheet yet.

Rows are written by the Store in the same transaction as the minute (engage.store.database._queue_for_sheets) and
deleted here once the spreadsheet holds them; a failed attempt keeps them and records why.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select, update

from engage.store.database import Store, _one_line, _queue_for_sheets, minutes_table, sheets_outbox_table, utcnow

_t = sheets_outbox_table


@dataclass(frozen=True)
class PendingItem:
    """One outbox row: a minute of a session, or (minute None) the session's summary row."""

    id: int
    session_id: int
    minute: int | None


@dataclass
class PendingSession:
    """What is queued for one session (for `engage export sheets --status`)."""

    session_id: int
    name: str
    minutes: int  # distinct minutes waiting
    summary: bool  # the summary row waits too
    queued_since: datetime
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "session_id": self.session_id,
            "name": self.name,
            "minutes": self.minutes,
            "summary": self.summary,
            "queued_since": self.queued_since.isoformat(),
            "attempts": self.attempts,
            "last_attempt_at": self.last_attempt_at.isoformat() if self.last_attempt_at else None,
            "last_error": self.last_error,
        }


def pending(store: Store, limit: int | None = None, session_ids: Iterable[int] | None = None) -> list[PendingItem]:
    """Outbox rows, oldest first (at most `limit`; only these sessions when given)."""
    query = select(_t.c.id, _t.c.session_id, _t.c.minute).order_by(_t.c.id).limit(limit)
    if session_ids is not None:
        query = query.where(_t.c.session_id.in_(list(session_ids)))
    with store.engine.connect() as connection:
        return [PendingItem(*row) for row in connection.execute(query)]


def done(store: Store, ids: Sequence[int]) -> None:
    """Forget outbox rows the spreadsheet now holds (rows queued again meanwhile have newer ids and stay)."""
    with store.engine.begin() as connection:
        for start in range(0, len(ids), 500):
            connection.execute(delete(_t).where(_t.c.id.in_(list(ids[start : start + 500]))))


def failed(store: Store, ids: Sequence[int], error: str) -> None:
    """Keep the rows and remember the attempt and its one-line reason (shown by --status)."""
    with store.engine.begin() as connection:
        for start in range(0, len(ids), 500):
            connection.execute(
                update(_t)
                .where(_t.c.id.in_(list(ids[start : start + 500])))
                .values(attempts=_t.c.attempts + 1, last_attempt_at=utcnow(), last_error=_one_line(error))
            )


def queue_session(store: Store, session_id: int) -> int:
    """Queue a whole session (every minute not already waiting, and its summary); returns rows added."""
    from sqlalchemy.orm import Session

    with Session(store.engine) as session, session.begin():
        waiting = set(session.scalars(select(_t.c.minute).where(_t.c.session_id == session_id)))
        stored = session.scalars(select(minutes_table.c.minute).where(minutes_table.c.session_id == session_id))
        added = 0
        for minute in [*stored, None]:
            if minute not in waiting:
                _queue_for_sheets(session, session_id, minute)
                added += 1
        return added


def status(store: Store) -> list[PendingSession]:
    """Per session with anything queued: how many minutes, since when, and the last failure."""
    from engage.store.database import SessionRow

    query = (
        select(
            _t.c.session_id,
            SessionRow.name,
            func.count(func.distinct(_t.c.minute)),
            func.max(case((_t.c.minute.is_(None), 1), else_=0)),
            func.min(_t.c.queued_at),
            func.max(_t.c.attempts),
            func.max(_t.c.last_attempt_at),
        )
        .join(SessionRow, SessionRow.id == _t.c.session_id)
        .group_by(_t.c.session_id, SessionRow.name)
        .order_by(_t.c.session_id)
    )
    result: list[PendingSession] = []
    with store.engine.connect() as connection:
        for sid, name, minutes, summaries, since, attempts, last_at in connection.execute(query):
            error = connection.execute(
                select(_t.c.last_error)
                .where(_t.c.session_id == sid, _t.c.last_error.is_not(None))
                .order_by(_t.c.last_attempt_at.desc())
                .limit(1)
            ).scalar()
            result.append(
                PendingSession(sid, name, int(minutes), bool(summaries), since, int(attempts or 0), last_at, error)
            )
    return result
