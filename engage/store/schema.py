"""The tables engage stores (sessions, their minutes, the outbox) and the records read from them.

Only aggregates are stored (see engage.minutes.metrics); there is no column for images, crops, embeddings
or identities. Alembic (migrations/) creates and alters these tables; tests check the two agree.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engage.config import redact
from engage.safetext import valid_unicode

KINDS: tuple[str, ...] = ("video", "images", "camera", "stream", "file-realtime")  # the last: `record --source FILE`
STATUSES: tuple[str, ...] = ("running", "completed", "partial", "failed", "interrupted")
FINAL_STATUSES: tuple[str, ...] = STATUSES[1:]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        # A naive value is taken as local time (what datetime.now() gives), as Python's astimezone() does.
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_line(text: str | None, limit: int = 500) -> str | None:
    """A message as the one line a Text column keeps (status_detail, last_error)."""
    if text is None:
        return None
    line = " ".join(valid_unicode(str(text)).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Base(DeclarativeBase):
    # Named constraints, so Alembic's SQLite batch mode can find and alter them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SessionRow(Base):
    """One analysed video, image set, camera or stream session."""

    __tablename__ = "sessions"
    # AUTOINCREMENT: SQLite never gives a deleted session's id to a new one (migration a3f7c9e2d5b1).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, index=True)
    source: Mapped[str] = mapped_column(String)  # path, URL or "camera:0"
    kind: Mapped[str] = mapped_column(String(16))
    content_hash: Mapped[str | None] = mapped_column(String, index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_detail: Mapped[str | None] = mapped_column(Text)
    media_duration_s: Mapped[float | None] = mapped_column(Float)
    sample_fps: Mapped[float] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String)
    config_json: Mapped[str] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)  # the process writing the session, to detect interruption
    host: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MinuteRow(Base):
    """The aggregates of one minute of a session (engage.minutes.metrics.MinuteMetrics)."""

    __tablename__ = "minutes"
    __table_args__ = (UniqueConstraint("session_id", "minute"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    minute: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    frames_sampled: Mapped[int] = mapped_column(Integer)
    frames_expected: Mapped[int] = mapped_column(Integer)
    faces_total: Mapped[int] = mapped_column(Integer)
    faces_mean: Mapped[float] = mapped_column(Float)
    faces_max: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[bool] = mapped_column(Boolean)
    # Mean probability per emotion over the minute's faces (None when suppressed).
    p_angry: Mapped[float | None] = mapped_column(Float)
    p_disgust: Mapped[float | None] = mapped_column(Float)
    p_fear: Mapped[float | None] = mapped_column(Float)
    p_happy: Mapped[float | None] = mapped_column(Float)
    p_sad: Mapped[float | None] = mapped_column(Float)
    p_surprise: Mapped[float | None] = mapped_column(Float)
    p_neutral: Mapped[float | None] = mapped_column(Float)
    # Share of the minute's faces whose top label is the emotion (None when suppressed).
    top_angry: Mapped[float | None] = mapped_column(Float)
    top_disgust: Mapped[float | None] = mapped_column(Float)
    top_fear: Mapped[float | None] = mapped_column(Float)
    top_happy: Mapped[float | None] = mapped_column(Float)
    top_sad: Mapped[float | None] = mapped_column(Float)
    top_surprise: Mapped[float | None] = mapped_column(Float)
    top_neutral: Mapped[float | None] = mapped_column(Float)
    dominant_emotion: Mapped[str | None] = mapped_column(String(16))
    valence: Mapped[float | None] = mapped_column(Float)
    engagement: Mapped[float | None] = mapped_column(Float)
    engagement_high: Mapped[float | None] = mapped_column(Float)
    engagement_nominal: Mapped[float | None] = mapped_column(Float)
    engagement_low: Mapped[float | None] = mapped_column(Float)
    # Added by revision f3b7c1d9a2e4; NULL for minutes stored before it (engage.minutes.shares).
    engagement_low90: Mapped[float | None] = mapped_column(Float)  # 90% interval of the engagement index
    engagement_high90: Mapped[float | None] = mapped_column(Float)
    # Share corrected for the model's confusions, with its 90% interval (NULL without the model's calibration).
    corrected_angry: Mapped[float | None] = mapped_column(Float)
    corrected_angry_low90: Mapped[float | None] = mapped_column(Float)
    corrected_angry_high90: Mapped[float | None] = mapped_column(Float)
    corrected_disgust: Mapped[float | None] = mapped_column(Float)
    corrected_disgust_low90: Mapped[float | None] = mapped_column(Float)
    corrected_disgust_high90: Mapped[float | None] = mapped_column(Float)
    corrected_fear: Mapped[float | None] = mapped_column(Float)
    corrected_fear_low90: Mapped[float | None] = mapped_column(Float)
    corrected_fear_high90: Mapped[float | None] = mapped_column(Float)
    corrected_happy: Mapped[float | None] = mapped_column(Float)
    corrected_happy_low90: Mapped[float | None] = mapped_column(Float)
    corrected_happy_high90: Mapped[float | None] = mapped_column(Float)
    corrected_sad: Mapped[float | None] = mapped_column(Float)
    corrected_sad_low90: Mapped[float | None] = mapped_column(Float)
    corrected_sad_high90: Mapped[float | None] = mapped_column(Float)
    corrected_surprise: Mapped[float | None] = mapped_column(Float)
    corrected_surprise_low90: Mapped[float | None] = mapped_column(Float)
    corrected_surprise_high90: Mapped[float | None] = mapped_column(Float)
    corrected_neutral: Mapped[float | None] = mapped_column(Float)
    corrected_neutral_low90: Mapped[float | None] = mapped_column(Float)
    corrected_neutral_high90: Mapped[float | None] = mapped_column(Float)
    # Added by revision b8d2e6f4a1c3; NULL for minutes stored before it (head pose and attention, engage.attention).
    people: Mapped[int | None] = mapped_column(Integer)  # distinct anonymous face tracks in the minute
    attention_facing: Mapped[float | None] = mapped_column(Float)  # shares of face-samples with a known head pose,
    attention_down: Mapped[float | None] = mapped_column(Float)  # facing / down / away (they sum to 1)
    attention_away: Mapped[float | None] = mapped_column(Float)
    readable_share: Mapped[float | None] = mapped_column(Float)  # share frontal enough for the expression model
    engagement_v1: Mapped[float | None] = mapped_column(Float)  # the expression-only index (`engagement` is v2)


class OutboxConsumerRow(Base):
    """A consumer subscribed to the outbox (e.g. "sheets"): every write to a session queues a row for it."""

    __tablename__ = "outbox_consumers"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    subscribed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A minute (or, with minute None, a session's own fields) that one consumer has not taken yet.

    Written in the same transaction as the minute itself, so a crash never loses a pending mark; deleted
    once the consumer has it. A minute rewritten while being consumed gets a newer row.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consumer: Mapped[str] = mapped_column(String(32), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    minute: Mapped[int | None] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


sessions_table = SessionRow.__table__
outbox_table = OutboxRow.__table__
consumers_table = OutboxConsumerRow.__table__


@dataclass
class SessionInfo:
    """One session as the CLI, dashboard and pipeline see it."""

    id: int
    name: str
    source: str
    kind: str
    status: str
    status_detail: str | None
    started_at: datetime
    ended_at: datetime | None
    media_duration_s: float | None
    sample_fps: float
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    content_hash: str | None = None
    minutes: int = 0  # how many minutes are stored

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values; timestamps as ISO 8601 with a UTC offset."""
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return d

    @classmethod
    def from_row(cls, row: Any, minutes: int) -> SessionInfo:
        """From a SessionRow, or a Core row with its columns."""
        try:
            config = json.loads(row.config_json or "{}")
        except ValueError:
            config = {}
        return cls(
            id=row.id,
            name=row.name,
            source=row.source,
            kind=row.kind,
            status=row.status,
            status_detail=row.status_detail,
            started_at=row.started_at,
            ended_at=row.ended_at,
            media_duration_s=row.media_duration_s,
            sample_fps=row.sample_fps,
            model=row.model,
            # redact: rows written before secrets were left out may still hold them; they are never shown.
            config=redact(config) if isinstance(config, dict) else {"value": config},
            content_hash=row.content_hash,
            minutes=minutes,
        )
