"""The session page's attention timeline: each minute's shares of faces facing the front, looking down and turned
away (head pose, engage.attention), stacked to 100%, as a plain Plotly dict.

It shares the minute axis of the charts above and below it (figures.minute_axis, the same margins), so a minute's
attention sits under its emotions. Minutes without attention figures (suppressed for privacy, or stored before
engage measured head pose) are gaps; a session with none gets a note instead of the chart (``attention_note``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dashboards.figures import MINUTE_AXIS, by_minute, chart_layout, minute_axis, suppressed_shapes
from engage.minutes.metrics import ATTENTION_PREFIX, ATTENTION_STATES, MinuteMetrics
from engage.palette import ATTENTION_HEX

ATTENTION_TITLE = "Attention minute by minute (faces with a known head pose)"
LABELS = {"facing": "facing the front", "down": "looking down", "away": "turned away"}


def attention_shares(m: MinuteMetrics | None) -> dict[str, float] | None:
    """A minute's attention shares by state, or None (no minute, hidden for privacy, or not measured)."""
    if m is None or m.suppressed:
        return None
    shares = {state: getattr(m, ATTENTION_PREFIX + state) for state in ATTENTION_STATES}
    return None if any(v is None for v in shares.values()) else shares


def attention_note(minutes: Sequence[MinuteMetrics]) -> str | None:
    """Why the session has no attention timeline, in a sentence; None when it has one."""
    if any(attention_shares(m) for m in minutes):
        return None
    if any(m.people is not None or m.readable_share is not None or m.engagement_v1 is not None for m in minutes):
        return "No attention timeline: no minute had a face whose head pose engage could tell."
    return (
        "No attention timeline: this session was analysed before engage measured head pose (facing, looking "
        "down, turned away); a recording analysed again with `engage analyze FILE --new` gets one."
    )


def attention_timeline(minutes: Sequence[MinuteMetrics], title: str = ATTENTION_TITLE) -> dict[str, Any]:
    """Stacked bars per minute: the shares of faces (with a known head pose) facing, down and away, summing to 1."""
    slots = by_minute(minutes)
    x = list(range(1, len(slots) + 1))
    shares = [attention_shares(m) for m in slots]
    people = [m.people if m is not None else None for m in slots]
    data = [
        {
            "type": "bar",
            "name": LABELS[state],
            "legendgroup": state,
            "x": x,
            "y": [None if s is None else s[state] for s in shares],
            "customdata": people,
            "marker": {"color": ATTENTION_HEX[state], "line": {"color": "#FFFFFF", "width": 0.6}},
            "hovertemplate": f"{LABELS[state]}: %{{y:.0%}}<extra></extra>",
        }
        for state in ATTENTION_STATES  # the first at the bottom: facing, on a steady base
    ]
    # The people in each minute, once per minute in the hover label (an invisible trace at the top).
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "people",
            "showlegend": False,
            "x": x,
            "y": [None if s is None or n is None else 1.0 for s, n in zip(shares, people, strict=True)],
            "customdata": people,
            "marker": {"size": 0.1, "color": "rgba(0,0,0,0)"},
            "hovertemplate": "%{customdata} people (distinct faces)<extra></extra>",
        }
    )
    shapes, notes = suppressed_shapes(slots)
    layout = chart_layout(
        title,
        MINUTE_AXIS,
        "Share of faces",
        xaxis=minute_axis(len(slots)),
        yaxis={"range": [0, 1], "tickformat": ".0%"},
        barmode="stack",
        bargap=0.1,
        hovermode="x unified",
        shapes=shapes,
        annotations=notes,
    )
    return {"data": data, "layout": layout}
