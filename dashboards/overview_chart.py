"""The overview's chart: each session's mean engagement by the date it started, with its spread and its name.

Sessions are placed on the day they started, spread evenly across that day in the order they started, so that
several lectures on one day stand side by side and the axis always counts days, never the hours of one day.
A vertical line through each point runs from the session's least to its most engaged part (the parts of the
table's trend). With up to MAX_NAMED sessions each name is written beside its point where it fits before the next;
the hover label always gives the name, date, length and figures, and clicking a point opens the session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from dashboards.figures import FONT, band_rect, empty_figure
from engage.minutes.timefmt import format_clock
from engage.store.overview import SessionSummary

TITLE = "Mean engagement of each session, by date"
X_TITLE = "Date the session started (UTC)"
MAX_NAMED = 8  # sessions whose names are written on the chart; more are named on hover only
NAME_CHARS = 28
DAY_MS = 86_400_000
PLOT_PX, CHAR_PX = 1200, 7.5  # the plot's width on a 1400 px page; a character of the labels' font


def _short(name: str) -> str:
    """The name, or its first words within NAME_CHARS and an ellipsis."""
    if len(name) <= NAME_CHARS:
        return name
    cut = name[: NAME_CHARS - 1]
    words = cut.rsplit(" ", 1)[0] if " " in cut[NAME_CHARS // 2 :] else cut
    return words.rstrip(" ,;:-") + "…"


def _positions(days: Sequence[date], count_per_day: dict[date, int], index_in_day: Sequence[int]) -> list[datetime]:
    """Each session's x: its day, at (k + 0.5) / n of the day for the k-th of the day's n sessions."""
    return [
        datetime.combine(day, time()) + timedelta(days=(k + 0.5) / count_per_day[day])
        for day, k in zip(days, index_in_day, strict=True)
    ]


def _date_axis(first: date, last: date, room_for_names: bool) -> dict[str, Any]:
    """A date axis of whole days with ticks at noon (under the day's points), at a spacing that stays readable."""
    span = (last - first).days + 1
    pad = timedelta(days=max(0.5, span * 0.03))
    right = pad + timedelta(days=span * 0.2 if room_for_names else 0)  # the last point's name is written to its right
    axis: dict[str, Any] = {
        "type": "date",
        "range": [
            (datetime.combine(first, time()) - pad).isoformat(),
            (datetime.combine(last, time()) + timedelta(days=1) + right).isoformat(),
        ],
        "tick0": datetime.combine(first, time(12)).isoformat(),
        "ticklabelmode": "instant",
        "hoverformat": "%Y-%m-%d",
    }
    if span <= 14:
        axis.update(dtick=DAY_MS, tickformat="%a %-d %b\n%Y")
    elif span <= 120:
        axis.update(dtick=7 * DAY_MS, tickformat="%-d %b\n%Y")
    else:
        axis.update(dtick="M1", tick0=first.replace(day=1).isoformat(), tickformat="%b\n%Y")
    return axis


def _labels_that_fit(x: Sequence[datetime], names: Sequence[str], axis_range: Sequence[str]) -> list[str]:
    """Each name, written to the right of its point where it fits before the next point; '' where it does not.

    Widths are estimated for a chart PLOT_PX wide at the chart's font size; the hover label always names a point.
    """
    if not names:
        return [""] * len(x)
    start, end = (datetime.fromisoformat(v) for v in axis_range)
    px_per_day = PLOT_PX / ((end - start).total_seconds() / 86_400)
    labels = []
    for i, name in enumerate(names):
        room = ((x[i + 1] - x[i]).total_seconds() / 86_400 * px_per_day) if i + 1 < len(x) else PLOT_PX
        labels.append(name if room >= 16 + CHAR_PX * len(name) else "")
    return labels


def _length_s(s: SessionSummary) -> float | None:
    """The media duration, else the time the stored minutes cover (as the table's Length)."""
    if s.session.media_duration_s:
        return s.session.media_duration_s
    return (s.last_minute + 1) * 60.0 if s.last_minute is not None else None


def _spread(parts: Sequence[float | None], mean: float) -> tuple[float, float]:
    known = [v for v in parts if v is not None]
    return (min(known), max(known)) if known else (mean, mean)


def sessions_by_date(summaries: Sequence[SessionSummary], low_band: float, high_band: float) -> dict[str, Any]:
    """One point per session with engagement figures: x its date, y its mean engagement, a line for its spread."""
    points = sorted(
        (s for s in summaries if s.mean_engagement is not None), key=lambda s: (s.session.started_at, s.session.id)
    )
    if not points:
        return empty_figure(TITLE, "No session has engagement figures yet", X_TITLE)
    days = [s.session.started_at.date() for s in points]
    per_day: dict[date, int] = {}
    index_in_day = []
    for day in days:
        index_in_day.append(per_day.get(day, 0))
        per_day[day] = per_day.get(day, 0) + 1
    x = _positions(days, per_day, index_in_day)
    means = [float(s.mean_engagement or 0.0) for s in points]
    spreads = [_spread(s.sparkline, m) for s, m in zip(points, means, strict=True)]
    custom = [
        [
            s.session.id,
            s.session.name,
            s.session.started_at.strftime("%a %-d %b %Y, %H:%M"),
            format_clock(_length_s(s), missing="–"),
            f"{lo:.2f}–{hi:.2f}",
            f"{s.faces_mean:.1f}" if s.faces_mean is not None else "–",
        ]
        for s, (lo, hi) in zip(points, spreads, strict=True)
    ]
    names = [_short(s.session.name) for s in points] if len(points) <= MAX_NAMED else []
    labels = _labels_that_fit(x, names, _date_axis(days[0], days[-1], bool(names))["range"])
    trace: dict[str, Any] = {
        "type": "scatter",
        "mode": "markers+text" if any(labels) else "markers",
        "name": "session",
        "x": [p.isoformat() for p in x],
        "y": means,
        "customdata": custom,
        "text": labels if any(labels) else None,
        "textposition": "middle right",
        "textfont": {"size": 12, "color": "#333333"},
        "cliponaxis": False,
        "marker": {"color": "#000000", "size": 10, "line": {"color": "white", "width": 1.5}},
        "error_y": {
            "type": "data",
            "symmetric": False,
            "array": [hi - m for (_lo, hi), m in zip(spreads, means, strict=True)],
            "arrayminus": [m - lo for (lo, _hi), m in zip(spreads, means, strict=True)],
            "color": "#777777",
            "thickness": 1.5,
            "width": 4,
        },
        "hovertemplate": (
            "<b>#%{customdata[0]} %{customdata[1]}</b><br>%{customdata[2]} UTC, %{customdata[3]} long<br>"
            "mean engagement %{y:.2f} (its parts %{customdata[4]})<br>%{customdata[5]} faces per frame"
            "<br><i>click to open</i><extra></extra>"
        ),
    }
    bands = [
        (0, low_band, "rgba(213,94,0,0.13)", f"low (< {low_band:g})"),
        (high_band, 1, "rgba(0,114,178,0.13)", f"high (> {high_band:g})"),
    ]
    layout: dict[str, Any] = {
        "title": {"text": TITLE, "x": 0.01, "xanchor": "left"},
        "xaxis": {
            "title": {"text": X_TITLE},
            **_date_axis(days[0], days[-1], bool(names)),
            "gridcolor": "#E5E5E5",
            "linecolor": "#888888",
            "showline": True,
            "zeroline": False,
        },
        "yaxis": {
            "title": {"text": "Mean engagement (0–1)"},
            "range": [0, 1],
            "gridcolor": "#E5E5E5",
            "linecolor": "#888888",
            "showline": True,
            "zeroline": False,
        },
        "shapes": [band_rect(y0, y1, colour) for y0, y1, colour, _label in bands],
        "annotations": [
            {
                "text": label,
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "yref": "y",
                "y": (y0 + y1) / 2,
                "showarrow": False,
                "font": {"size": 11, "color": "#444444"},
            }
            for y0, y1, _colour, label in bands
        ],
        "font": FONT,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 70},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "showlegend": False,
        "hoverlabel": {"namelength": -1},
        "height": 340,
    }
    return {"data": [trace], "layout": layout}
