"""Every session with its minutes summed up, for the dashboard's overview (Store.overview)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, case, func, select

from engage.store.schema import MinuteRow, SessionInfo, finite_or_none, sessions_table


@dataclass
class SessionSummary:
    """A session with its minutes summed up, for overviews (Store.overview)."""

    session: SessionInfo
    last_minute: int | None  # highest stored minute (0-based); None without minutes
    faces_total: int  # face detections over all minutes
    faces_mean: float | None  # mean faces per sampled frame over the session (the typical class size seen)
    faces_max: int | None
    suppressed_minutes: int  # minutes without emotion figures (privacy.min_faces)
    mean_engagement: float | None  # face-weighted mean engagement of the unsuppressed minutes
    sparkline: list[float | None]  # engagement in equal parts of the session (see Store.overview)


def summarise(connection: Connection, buckets: int) -> list[SessionSummary]:
    """Every session, newest first, in two queries (no N+1); see Store.overview."""
    m = MinuteRow.__table__.c
    has_engagement = m.engagement.is_not(None)
    weighted = func.sum(case((has_engagement, m.engagement * m.faces_total)))
    weight = func.sum(case((has_engagement, m.faces_total)))
    per_session = (
        select(
            m.session_id,
            func.count().label("n"),
            func.max(m.minute).label("last_minute"),
            func.sum(m.faces_total).label("faces_total"),
            func.sum(m.frames_sampled).label("frames"),
            func.max(m.faces_max).label("faces_max"),
            func.sum(case((m.suppressed, 1), else_=0)).label("suppressed"),
            (weighted / func.nullif(weight, 0)).label("engagement"),
        )
        .group_by(m.session_id)
        .subquery()
    )
    sessions = sessions_table
    wanted = [c for c in sessions.c if c.name not in ("pid", "host", "created_at")]
    query = (  # Core rows, not ORM objects: a thousand sessions load several times faster
        select(*wanted, *[c for c in per_session.c if c.name != "session_id"])
        .outerjoin(per_session, per_session.c.session_id == sessions.c.id)
        .order_by(sessions.c.started_at.desc(), sessions.c.id.desc())
    )
    bucket = ((m.minute * buckets) // (per_session.c.last_minute + 1)).label("bucket")
    spark_query = (
        select(m.session_id, bucket, (weighted / func.nullif(weight, 0)).label("engagement"))
        .join(per_session, per_session.c.session_id == m.session_id)
        .group_by(m.session_id, bucket)
    )
    rows = connection.execute(query).all()
    parts: dict[int, dict[int, float | None]] = {}
    for session_id, b, value in connection.execute(spark_query).all():
        parts.setdefault(session_id, {})[int(b)] = finite_or_none(value)
    # A session shorter than `buckets` minutes has one part per minute.
    sparks = {sid: [p[b] for b in sorted(p)] for sid, p in parts.items()}
    summaries = []
    for row in rows:
        info = SessionInfo.from_row(row, row.n or 0)
        frames = row.frames or 0
        summaries.append(
            SessionSummary(
                session=info,
                last_minute=row.last_minute,
                faces_total=row.faces_total or 0,
                faces_mean=(row.faces_total or 0) / frames if frames else None,
                faces_max=row.faces_max,
                suppressed_minutes=row.suppressed or 0,
                mean_engagement=finite_or_none(row.engagement),
                sparkline=sparks.get(info.id, []),
            )
        )
    return summaries
