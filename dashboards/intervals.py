"""How sure each minute is: 90% bands on the session page (engage.minutes.shares), as plain Plotly dicts.

The engagement chart gets a grey band behind its line; the corrected emotion shares get a chart of their own,
one strip per emotion, each a line inside its band. Minutes without intervals (suppressed for privacy, or
stored before engage measured them) are gaps, never zero-width bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dashboards.figures import (
    EMOTION_COLOURS,
    FONT,
    MINUTE_AXIS,
    STACK_ORDER,
    band_polygon,
    by_minute,
    empty_figure,
    minute_axis,
    suppressed_shapes,
)
from engage.minutes.metrics import MinuteMetrics

BAND_FILL = "rgba(0,0,0,0.14)"
CORRECTED_TITLE = "Emotion shares corrected for the model's confusions, with 90% intervals"
STRIP_HEIGHT = 92  # pixels per emotion


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def add_engagement_band(figure: dict[str, Any], minutes: Sequence[MinuteMetrics]) -> dict[str, Any]:
    """The engagement chart (figures.engagement_timeline) with each minute's 90% interval as a band behind it."""
    slots = by_minute(minutes)
    known = [m is not None and not m.suppressed and m.engagement_low90 is not None for m in slots]
    if not any(known):
        return figure
    x = list(range(1, len(slots) + 1))
    low = [m.engagement_low90 if k else None for m, k in zip(slots, known, strict=True)]  # type: ignore[union-attr]
    high = [m.engagement_high90 if k else None for m, k in zip(slots, known, strict=True)]  # type: ignore[union-attr]
    px, py = band_polygon(x, low, high)
    band = {
        "type": "scatter",
        "mode": "lines",
        "name": "90% interval",
        "x": px,
        "y": py,
        "fill": "toself",
        "fillcolor": BAND_FILL,
        "line": {"width": 0},
        "hoverinfo": "skip",
        "showlegend": True,
    }
    edges = {
        "type": "scatter",
        "mode": "markers",
        "name": "90% interval",
        "x": x,
        "y": high,
        "customdata": [[lo, hi] for lo, hi in zip(low, high, strict=True)],
        "marker": {"size": 0.1, "color": "rgba(0,0,0,0)"},
        "showlegend": False,
        "hovertemplate": "90% interval %{customdata[0]:.2f}–%{customdata[1]:.2f}<extra></extra>",
    }
    # The legend (line and band) sits top right, as on the other charts, clear of the title.
    layout = {**figure["layout"], "showlegend": True}
    return {"data": [band, *figure["data"], edges], "layout": layout}


def corrected_shares_figure(minutes: Sequence[MinuteMetrics], title: str = CORRECTED_TITLE) -> dict[str, Any]:
    """One strip per emotion (largest on top): its corrected share per minute inside its 90% band."""
    slots = by_minute(minutes)
    shown = [m for m in slots if m is not None and not m.suppressed and m.emotion_corrected]
    if not shown:
        return empty_figure(
            title,
            "No corrected shares: this session was analysed before engage corrected them, or its model has no "
            "calibration (run `engage calibrate`, then analyse again with --new)",
        )
    x = list(range(1, len(slots) + 1))
    strips = len(STACK_ORDER)
    gap = 0.03
    height = (1 - gap * (strips - 1)) / strips
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "font": FONT,
        "margin": {"l": 70, "r": 20, "t": 60, "b": 60},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "showlegend": False,
        "hovermode": "x unified",
        "height": 80 + STRIP_HEIGHT * strips,
        "uirevision": "keep",
        "xaxis": {
            **minute_axis(len(slots)),
            "title": {"text": MINUTE_AXIS},
            "anchor": f"y{strips}",  # the minute axis under the lowest strip
            "gridcolor": "#E5E5E5",
            "linecolor": "#888888",
            "showline": True,
            "zeroline": False,
        },
    }
    for i, e in enumerate(STACK_ORDER):
        axis = "" if i == 0 else str(i + 1)
        share, low, high = [], [], []
        for m in slots:
            ok = m is not None and not m.suppressed and m.emotion_corrected is not None
            share.append(m.emotion_corrected.get(e) if ok else None)  # type: ignore[union-attr]
            low.append((m.emotion_corrected_low90 or {}).get(e) if ok else None)  # type: ignore[union-attr]
            high.append((m.emotion_corrected_high90 or {}).get(e) if ok else None)  # type: ignore[union-attr]
        px, py = band_polygon(x, low, high)
        colour = EMOTION_COLOURS[e]
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": px,
                "y": py,
                "xaxis": "x",
                "yaxis": f"y{axis}",
                "fill": "toself",
                "fillcolor": _rgba(colour, 0.35),
                "line": {"width": 0},
                "hoverinfo": "skip",
            }
        )
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": e,
                "x": x,
                "y": share,
                "xaxis": "x",
                "yaxis": f"y{axis}",
                "connectgaps": False,
                "customdata": [[lo, hi] for lo, hi in zip(low, high, strict=True)],
                "line": {"color": "#333333" if e == "neutral" else colour, "width": 2},
                "marker": {"size": 4},
                "hovertemplate": f"{e}: %{{y:.0%}} (90%: %{{customdata[0]:.0%}}–%{{customdata[1]:.0%}})<extra></extra>",
            }
        )
        top = 1 - i * (height + gap)
        layout[f"yaxis{axis}"] = {
            "domain": [max(0.0, top - height), top],
            "anchor": "x",
            "range": [0, 1],
            "tickformat": ".0%",
            "tickvals": [0, 0.5],  # 100% is the strip's top edge; a label there would touch the next strip's 0%
            "title": {"text": e, "standoff": 4},
            "gridcolor": "#E5E5E5",
            "linecolor": "#888888",
            "showline": True,
            "zeroline": False,
        }
    shapes, notes = suppressed_shapes(slots)
    layout["shapes"], layout["annotations"] = shapes, notes
    return {"data": data, "layout": layout}
