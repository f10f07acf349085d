"""What each page shows, computed from the database: the server side of every callback, kept out of the page
modules so it can be timed (benchmarks/dashboard_speed.py) and tested without a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dashboards import attention, figures, intervals
from dashboards.data import DataSource, Unavailable
from dashboards.overview_chart import sessions_by_date
from engage.errors import DatabaseUnavailable, EngageError, NotFound
from engage.minutes.metrics import MinuteMetrics, session_attention, session_engagement
from engage.minutes.timefmt import format_clock
from engage.store.overview import SessionSummary
from engage.store.schema import SessionInfo

SPARK_LEVELS = "▁▂▃▄▅▆▇█"
LIVE_STATUSES = ("running",)


SPARK_MIN_SPAN = 0.05  # a session steadier than this draws as a near-flat line, not as noise blown up


def sparkline(values: list[float | None]) -> str:
    """Engagement per part as block characters scaled to the session's own range (lowest ▁, highest █), so that
    a lecture moving between 0.54 and 0.68 shows its shape; a part with no figures (privacy) is a dot. A range
    narrower than SPARK_MIN_SPAN is drawn within a window that wide, around its middle."""
    known = [v for v in values if v is not None]
    if not known:
        return "·" * len(values)
    low, high = min(known), max(known)
    if high - low < SPARK_MIN_SPAN:
        low = (low + high - SPARK_MIN_SPAN) / 2
        high = low + SPARK_MIN_SPAN
    top = len(SPARK_LEVELS) - 1
    return "".join(
        "·" if v is None else SPARK_LEVELS[max(0, min(top, round((v - low) / (high - low) * top)))] for v in values
    )


def spark_range(values: list[float | None]) -> str:
    """The range a sparkline spans, '0.54–0.68' ('0.61' when flat; '' without figures)."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = f"{min(known):.2f}", f"{max(known):.2f}"
    return low if low == high else f"{low}–{high}"


def session_seconds(info: SessionInfo, last_minute: int | None) -> float | None:
    """The media duration, else the time the stored minutes cover."""
    if info.media_duration_s:
        return info.media_duration_s
    return (last_minute + 1) * 60.0 if last_minute is not None else None


# ------------------------------------------------------------------------------------------ overview


@dataclass
class OverviewView:
    rows: list[dict[str, Any]] = field(default_factory=list)
    figure: dict[str, Any] | None = None
    message: Unavailable | None = None
    total: int = 0  # sessions in the database (before the date filter)


def _day(value: str | date | None) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def overview_row(s: SessionSummary) -> dict[str, Any]:
    info = s.session
    seconds = session_seconds(info, s.last_minute)
    name = info.name.replace("[", "\\[").replace("]", "\\]")
    return {
        "id": info.id,
        "session": f"[{name}](/session/{info.id})",
        "date": info.started_at.strftime("%Y-%m-%d %H:%M"),
        "duration": format_clock(seconds, missing="–"),
        "minutes": round(seconds / 60, 1) if seconds is not None else None,
        "source": info.source,
        "engagement": round(s.mean_engagement, 2) if s.mean_engagement is not None else None,
        "trend": sparkline(s.sparkline) if s.sparkline else "",
        "spread": spark_range(s.sparkline),
        "faces": round(s.faces_mean, 1) if s.faces_mean is not None else None,
        "status": info.status,
    }


def overview_view(source: DataSource, start_date: str | date | None = None, end_date: str | date | None = None):
    """The overview table rows and chart for the sessions started between the two days (inclusive)."""
    store = source.store()
    if isinstance(store, Unavailable):
        return OverviewView(message=store)
    try:
        summaries = store.overview()
    except EngageError as exc:
        return OverviewView(message=Unavailable("Cannot read the database", f"{exc}."))
    if not summaries:
        return OverviewView(
            message=Unavailable(
                "No sessions yet",
                f"The database {source.location} is empty. Analyse a lecture with `engage analyze lecture.mp4`, "
                "record one live with `engage record`, or try `engage demo`; it appears here on reload.",
            )
        )
    first, last = _day(start_date), _day(end_date)
    chosen = [
        s
        for s in summaries
        if (first is None or s.session.started_at.date() >= first)
        and (last is None or s.session.started_at.date() <= last)
    ]
    band = source.config.engagement
    figure = sessions_by_date(chosen, band.low_band, band.high_band)
    view = OverviewView(rows=[overview_row(s) for s in chosen], figure=figure, total=len(summaries))
    if not chosen:
        view.message = Unavailable("No sessions in these dates", "Widen or clear the date range to see sessions.")
    return view


# ------------------------------------------------------------------------------------------- session


@dataclass
class SessionView:
    info: SessionInfo | None = None
    minutes: list[MinuteMetrics] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)
    message: Unavailable | None = None  # why there is nothing (or little) to show
    live: bool = False
    attention_note: str | None = None  # why there is no attention timeline (a session from before head pose)


def _parse_id(session_id: Any) -> int | None:
    try:
        return int(str(session_id).strip())
    except (TypeError, ValueError):
        return None


def session_view(source: DataSource, session_id: Any) -> SessionView:
    """Everything the session page shows: facts, the charts, any empty-state advice, and the note that stands in
    for the attention timeline of a session without head pose figures."""
    store = source.store()
    if isinstance(store, Unavailable):
        return SessionView(message=store)
    sid = _parse_id(session_id)
    if sid is None:
        return SessionView(message=Unavailable("No such session", f"'{session_id}' is not a session number."))
    try:
        info = store.get_session(sid)
        minutes = store.minutes(sid)
    except NotFound as exc:
        return SessionView(message=Unavailable("No such session", f"{exc}. Pick a session from the overview instead."))
    except DatabaseUnavailable as exc:
        return SessionView(message=Unavailable("Database unavailable", str(exc)))
    config = source.config
    band = config.engagement
    view = SessionView(info=info, minutes=minutes, live=info.status in LIVE_STATUSES)
    view.figures = {
        # Raw: each face's strongest emotion. The corrected shares, with their intervals, are "corrected".
        "emotions": figures.emotion_timeline(minutes, title="Emotions minute by minute (raw: each face's top label)"),
        "attention": attention.attention_timeline(minutes),
        "corrected": intervals.corrected_shares_figure(minutes),
        "engagement": intervals.add_engagement_band(
            figures.engagement_timeline(minutes, band.low_band, band.high_band), minutes
        ),
        "faces": figures.faces_timeline(minutes),
        "dominant": figures.dominant_emotions(minutes),
    }
    mean = session_engagement(minutes)
    frames = sum(m.frames_sampled for m in minutes)
    faces = sum(m.faces_total for m in minutes)
    suppressed = sum(1 for m in minutes if m.suppressed)
    shares = session_attention(minutes)
    people = max((m.people for m in minutes if m.people is not None), default=None)
    view.attention_note = attention.attention_note(minutes)
    view.facts = [
        ("Started (UTC)", info.started_at.strftime("%Y-%m-%d %H:%M")),
        ("Length", format_clock(session_seconds(info, max((m.minute for m in minutes), default=None)), missing="–")),
        ("Status", info.status + (f" ({info.status_detail})" if info.status_detail else "")),
        ("Source", info.source),
        ("Minutes stored", str(len(minutes))),
        ("Mean engagement", f"{mean:.2f}" if mean is not None else "–"),
        ("Typical faces per frame", f"{faces / frames:.1f}" if frames else "–"),
        ("People (most in a minute)", str(people) if people is not None else "–"),
        (
            "Attention (facing / down / away)",
            " / ".join(f"{shares[s]:.0%}" for s in shares) if shares else "–",
        ),
        ("Hidden for privacy", privacy_note(suppressed, len(minutes), config.privacy.min_faces)),
    ]
    if not minutes:
        view.message = Unavailable(
            "No minutes yet",
            "This session is recording: its first minute appears here after one minute of lecture."
            if view.live
            else "This session stored no minutes (it may have ended within its first minute). "
            "Analyse the recording again with `engage analyze FILE --new`.",
        )
    elif faces == 0:
        view.message = Unavailable(
            "No faces were detected in this session",
            "Check that the camera sees the audience's faces, well lit and at least "
            f"{config.detector.min_face} pixels tall, then record again; a lower `detector.score_threshold` in "
            "config.yaml finds fainter faces.",
        )
    return view


def session_csv(source: DataSource, session_id: Any) -> tuple[str, str] | None:
    """(file name, CSV text) of the session's per-minute data, as `engage export SESSION --format csv` writes it."""
    store = source.store()
    sid = _parse_id(session_id)
    if isinstance(store, Unavailable) or sid is None:
        return None
    from engage.export import csv_text, default_filename, minutes_frame  # pandas: only when a CSV is asked for

    try:
        info = store.get_session(sid)
        frame = minutes_frame(store, info)
    except EngageError:
        return None
    return default_filename(info, "csv"), csv_text(frame)  # formulas in names made plain text, as the export


def privacy_note(suppressed: int, minutes: int, min_faces: int) -> str:
    """How many minutes privacy hid, and the rule, in words: "none (minutes with no face are hidden)"."""
    rule = "minutes with no face" if min_faces <= 1 else f"minutes averaging fewer than {min_faces} faces a frame"
    hidden = f"{suppressed} of {minutes} minute{'s' * (minutes != 1)}" if suppressed else "none"
    return f"{hidden} ({rule} are hidden)"


def sheets_status(config: Any) -> tuple[bool, str | None]:
    """Whether a spreadsheet is configured for the Sheets mirror (issue #5's `sheets:` section), and which."""
    sheets = getattr(config, "sheets", None)
    spreadsheet = getattr(sheets, "spreadsheet", None) if sheets is not None else None
    return bool(spreadsheet), (str(spreadsheet) if spreadsheet else None)


# ------------------------------------------------------------------------------------------ compare


def session_options(source: DataSource) -> list[dict[str, Any]]:
    """Dropdown options for every session, newest first."""
    store = source.store()
    if isinstance(store, Unavailable):
        return []
    try:
        sessions = store.list_sessions()
    except EngageError:
        return []
    return [
        {"label": f"#{s.id} {s.name} ({s.started_at:%Y-%m-%d %H:%M})", "value": s.id} for s in sessions if s.minutes
    ]


def comparison_view(source: DataSource, session_ids: list[Any] | None) -> dict[str, Any]:
    """The comparison chart of the chosen sessions' engagement over lecture time."""
    band = source.config.engagement
    store = source.store()
    series: list[tuple[str, list[MinuteMetrics]]] = []
    if not isinstance(store, Unavailable):
        for raw in session_ids or []:
            sid = _parse_id(raw)
            if sid is None:
                continue
            try:
                info = store.get_session(sid)
                series.append((f"#{info.id} {info.name}", store.minutes(sid)))
            except NotFound:
                continue  # deleted meanwhile, or a number typed into the address
    return figures.comparison(series, band.low_band, band.high_band)


def parse_ids(text: str | None) -> list[int]:
    """ "1,2,3" (a query string value) -> [1, 2, 3], ignoring anything that is not a number."""
    return [int(p) for p in re.split(r"[,\s]+", text or "") if p.isascii() and p.isdigit()]  # "²" is a digit too
