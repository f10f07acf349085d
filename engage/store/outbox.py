"""The outbox: which minutes and session changes each subscribed consumer has not taken yet.

A consumer (the Google Sheets mirror is "sheets") subscribes once; the subscription lives in the database,
so every process writing to it queues for it. Each Store write that stores a minute or changes a session
queues one row per subscriber in its own transaction (`enqueue`), so a crash never loses a mark. The
consumer reads its rows, deletes them once it has them, or records a failed attempt. The Store's
outbox_* methods are the public face of these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, case, delete, func, select, update
from sqlalchemy.orm import Session

from engage.store.schema import consumers_table, one_line, outbox_table, sessions_table, utcnow

_t = outbox_table
CHUNK = 500  # ids per statement, well under every backend's bound-parameter limit


@dataclass(frozen=True)
class OutboxItem:
    """One queued row: a minute of a session, or (minute None) the session itself (status, end, ...)."""

    id: int
    session_id: int
    minute: int | None


@dataclass
class OutboxSession:
    """What is queued for one consumer and one session (e.g. for `engage export sheets --status`)."""

    session_id: int
    name: str
    minutes: int  # distinct minutes waiting
    summary: bool  # the session itself (minute None) waits too
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


def check_consumer(consumer: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", consumer):
        raise ValueError(f"a consumer is a short lower-case name like 'sheets', not {consumer!r}")
    return consumer


def subscribe(session: Session, consumer: str) -> bool:
    """Subscribe `consumer`; False when it already was."""
    check_consumer(consumer)
    if session.scalar(select(consumers_table.c.name).where(consumers_table.c.name == consumer)) is not None:
        return False
    session.execute(consumers_table.insert().values(name=consumer, subscribed_at=utcnow()))
    return True


def subscribers(connection: Connection | Session) -> list[str]:
    return list(connection.scalars(select(consumers_table.c.name).order_by(consumers_table.c.name)))


def enqueue(session: Session, session_id: int, minute: int | None) -> None:
    """Queue a minute (None: the session itself) for every subscriber, inside the caller's transaction.

    Every Store method that writes minutes or changes a session calls this in its own transaction.
    """
    now = utcnow()
    rows = [
        {"consumer": c, "session_id": session_id, "minute": minute, "queued_at": now, "attempts": 0}
        for c in subscribers(session)
    ]
    if rows:
        session.execute(_t.insert(), rows)


def pending(
    connection: Connection, consumer: str, limit: int | None = None, session_ids: Iterable[int] | None = None
) -> list[OutboxItem]:
    query = select(_t.c.id, _t.c.session_id, _t.c.minute).where(_t.c.consumer == consumer).order_by(_t.c.id)
    if session_ids is not None:
        query = query.where(_t.c.session_id.in_(list(session_ids)))
    return [OutboxItem(*row) for row in connection.execute(query.limit(limit))]


def done(connection: Connection, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), CHUNK):
        connection.execute(delete(_t).where(_t.c.id.in_(list(ids[start : start + CHUNK]))))


def failed(connection: Connection, ids: Sequence[int], error: str) -> None:
    for start in range(0, len(ids), CHUNK):
        connection.execute(
            update(_t)
            .where(_t.c.id.in_(list(ids[start : start + CHUNK])))
            .values(attempts=_t.c.attempts + 1, last_attempt_at=utcnow(), last_error=one_line(error))
        )


def queue_session(session: Session, consumer: str, session_id: int, minutes: Iterable[int]) -> int:
    """Queue `minutes` of a session and the session itself for one consumer, but what already waits."""
    waiting = set(session.scalars(select(_t.c.minute).where(_t.c.consumer == consumer, _t.c.session_id == session_id)))
    now = utcnow()
    rows = [
        {"consumer": consumer, "session_id": session_id, "minute": m, "queued_at": now, "attempts": 0}
        for m in [*minutes, None]
        if m not in waiting
    ]
    if rows:
        session.execute(_t.insert(), rows)
    return len(rows)


def status(connection: Connection, consumer: str) -> list[OutboxSession]:
    s = sessions_table.c
    query = (
        select(
            _t.c.session_id,
            s.name,
            func.count(func.distinct(_t.c.minute)),
            func.max(case((_t.c.minute.is_(None), 1), else_=0)),
            func.min(_t.c.queued_at),
            func.max(_t.c.attempts),
            func.max(_t.c.last_attempt_at),
        )
        .join(sessions_table, s.id == _t.c.session_id)
        .where(_t.c.consumer == consumer)
        .group_by(_t.c.session_id, s.name)
        .order_by(_t.c.session_id)
    )
    result: list[OutboxSession] = []
    for sid, name, minutes, summaries, since, attempts, last_at in connection.execute(query):
        error = connection.execute(
            select(_t.c.last_error)
            .where(_t.c.consumer == consumer, _t.c.session_id == sid, _t.c.last_error.is_not(None))
            .order_by(_t.c.last_attempt_at.desc())
            .limit(1)
        ).scalar()
        result.append(
            OutboxSession(sid, name, int(minutes), bool(summaries), since, int(attempts or 0), last_at, error)
        )
    return result
