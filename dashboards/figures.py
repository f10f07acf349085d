"""Plotly figures for the dashboard, built as plain dicts (fast: no validation pass) from stored minutes.

Every chart has a title and axis titles. Emotion colours are engage's one palette (engage/palette.py, Okabe-Ito,
readable with the common colour vision deficiencies), and no chart relies on colour alone (labels, hover text,
legend order). Minutes that are missing or suppressed for privacy are None, which plotly draws as gaps, never as
zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics
from engage.palette import EMOTION_HEX

# One colour per emotion, the same as on the photo page and in annotated photos (engage/palette.py).
EMOTION_COLOURS: dict[str, str] = EMOTION_HEX
# Bottom to top of the stacked area: the usual large shares first, so the small ones sit on a steady base.
STACK_ORDER: tuple[str, ...] = ("neutral", "happy", "surprise", "sad", "fear", "angry", "disgust")
assert set(STACK_ORDER) == set(EMOTIONS)
# Only the download-as-PNG button: zoom and pan tools are clutter on a one-page report.
GRAPH_CONFIG = {
    "displaylogo": False,
    "modeBarButtons": [["toImage"]],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}

LINE_COLOURS: tuple[str, ...] = ("#000000", "#E69F00", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9")
LINE_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SUPPRESSED_FILL = "rgba(120,120,120,0.18)"
MINUTE_AXIS = "Minute of the lecture (1 = first minute)"
FONT = {"family": "DejaVu Sans, Arial, sans-serif", "size": 13}


def chart_layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    """Every chart's layout: title, axis titles, font, margins (the same on each, so minute axes line up), legend
    above the plot; ``extra`` keys replace (or, for dicts, update) the defaults."""
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "xaxis": {"title": {"text": x_title}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "zeroline": False},
        "font": FONT,
        "margin": {"l": 70, "r": 20, "t": 60, "b": 60},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
        "hoverlabel": {"namelength": -1},
        "uirevision": "keep",  # a live refresh keeps the reader's zoom
    }
    for axis in ("xaxis", "yaxis"):
        layout[axis].update({"gridcolor": "#E5E5E5", "linecolor": "#888888", "showline": True})
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def minute_axis(minutes: int) -> dict[str, Any]:
    """An x axis over minutes 1..n with whole-minute ticks at a readable spacing."""
    step = next((d for d in (1, 2, 5, 10, 15, 20, 30, 60) if minutes / d <= 16), 120)
    return {
        "range": [0.5, max(minutes, 1) + 0.5],
        "tick0": 0 if step > 1 else 1,
        "dtick": step,
        "unifiedhovertitle": {"text": "minute %{x}"},
    }


def empty_figure(title: str, message: str, x_title: str = MINUTE_AXIS, y_title: str = "") -> dict[str, Any]:
    """A titled, labelled chart with a message in place of data."""
    layout = chart_layout(title, x_title, y_title)
    layout["xaxis"]["visible"] = False
    layout["yaxis"]["visible"] = False
    layout["annotations"] = [
        {"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}
    ]
    return {"data": [], "layout": layout}


def by_minute(minutes: Sequence[MinuteMetrics]) -> list[MinuteMetrics | None]:
    """The minutes placed at their index, 0 to the last stored one; a minute never stored is None."""
    if not minutes:
        return []
    slots: list[MinuteMetrics | None] = [None] * (max(m.minute for m in minutes) + 1)
    for m in minutes:
        slots[m.minute] = m
    return slots


def _runs(flags: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    runs, start = [], None
    for i, flag in enumerate(flags):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs


def suppressed_shapes(slots: Sequence[MinuteMetrics | None]) -> tuple[list[dict], list[dict]]:
    """Grey bands over the minutes suppressed for privacy (x is minute + 1), with one label each."""
    shapes, notes = [], []
    for first, last in _runs([m is not None and m.suppressed for m in slots]):
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": first + 0.5,
                "x1": last + 1.5,
                "y0": 0,
                "y1": 1,
                "fillcolor": SUPPRESSED_FILL,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        if last - first >= 2 or len(notes) < 8:
            notes.append(
                {
                    "text": "hidden (privacy)",
                    "x": (first + last) / 2 + 1,
                    "xref": "x",
                    "y": 1,
                    "yref": "paper",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 10, "color": "#555555"},
                }
            )
    return shapes, notes


def _minute_label(i: int) -> str:
    return f"minute {i + 1} ({i}:00–{i + 1}:00)"


def band_rect(y0: float, y1: float, colour: str) -> dict[str, Any]:
    """A horizontal band across the whole plot, behind the data (the engagement bands)."""
    return {
        "type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": y0, "y1": y1,
        "fillcolor": colour, "line": {"width": 0}, "layer": "below",
    }  # fmt: skip


def band_polygon(
    x: Sequence[float], lower: Sequence[float | None], upper: Sequence[float | None]
) -> tuple[list[float | None], list[float | None]]:
    """One closed outline per run of known minutes between two stacked lines, runs separated by None.

    plotly's fill="toself" fills each None-separated segment on its own, so a minute with no figures stays
    an empty gap (fill="tonexty" would bridge it). A lone minute is widened a little so it shows.
    """
    xs: list[float | None] = []
    ys: list[float | None] = []
    for first, last in _runs([v is not None for v in upper]):
        idx = list(range(first, last + 1))
        if len(idx) == 1:
            i = idx[0]
            fx, fu, fl = [x[i] - 0.3, x[i] + 0.3], [upper[i]] * 2, [lower[i]] * 2
        else:
            fx, fu, fl = [x[i] for i in idx], [upper[i] for i in idx], [lower[i] for i in idx]
        xs += [*fx, *reversed(fx), fx[0], None]
        ys += [*fu, *reversed(fl), fu[0], None]
    return xs, ys


def emotion_timeline(minutes: Sequence[MinuteMetrics], title: str = "Emotions minute by minute") -> dict[str, Any]:
    """Stacked area of the seven emotion shares (share of faces whose strongest emotion it is) per minute.

    Each emotion is two traces: its filled band (in the legend) and an invisible line through the band's top
    that carries the minute's exact share for the hover label (its customdata).
    """
    slots = by_minute(minutes)
    x = list(range(1, len(slots) + 1))
    shares = {
        e: [None if m is None or m.suppressed or not m.emotion_top_share else m.emotion_top_share.get(e) for m in slots]
        for e in STACK_ORDER
    }
    lower: list[float | None] = [0.0 if v is not None else None for v in shares[STACK_ORDER[0]]]
    bands, hovers = [], []
    for e in STACK_ORDER:
        upper = [None if c is None or v is None else c + v for c, v in zip(lower, shares[e], strict=True)]
        px, py = band_polygon(x, lower, upper)
        bands.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": e,
                "legendgroup": e,
                "x": px,
                "y": py,
                "fill": "toself",
                "fillcolor": EMOTION_COLOURS[e],
                "line": {"color": "#FFFFFF", "width": 0.6},
                "hoverinfo": "skip",
            }
        )
        hovers.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": e,
                "legendgroup": e,
                "showlegend": False,
                "x": x,
                "y": upper,
                "customdata": shares[e],
                "connectgaps": False,
                "line": {"color": "rgba(0,0,0,0)", "width": 0},
                "hovertemplate": f"{e}: %{{customdata:.0%}}<extra></extra>",
            }
        )
        lower = upper
    shapes, notes = suppressed_shapes(slots)
    layout = chart_layout(
        title,
        MINUTE_AXIS,
        "Share of faces",
        yaxis={"range": [0, 1], "tickformat": ".0%"},
        xaxis=minute_axis(len(slots)),
        hovermode="x unified",
        shapes=shapes,
        annotations=notes,
        # Above the plot, not beside it: a side legend would narrow this chart's x-axis against the charts below.
        legend={
            "orientation": "h",
            "x": 1,
            "xanchor": "right",
            "y": 1.02,
            "yanchor": "bottom",
            "traceorder": "reversed",
        },
    )
    return {"data": bands + list(reversed(hovers)), "layout": layout}


def engagement_timeline(
    minutes: Sequence[MinuteMetrics], low_band: float, high_band: float, title: str = "Engagement over the lecture"
) -> dict[str, Any]:
    """The engagement index per minute over shaded low / nominal / high bands."""
    slots = by_minute(minutes)
    x = list(range(1, len(slots) + 1))
    y = [None if m is None or m.suppressed else m.engagement for m in slots]
    custom = [
        [
            m.engagement_high if m and not m.suppressed else None,
            m.engagement_nominal if m and not m.suppressed else None,
            m.engagement_low if m and not m.suppressed else None,
            m.faces_mean if m else None,
            _minute_label(i),
        ]
        for i, m in enumerate(slots)
    ]
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "engagement index",
            "x": x,
            "y": y,
            "customdata": custom,
            "connectgaps": False,
            "line": {"color": "#000000", "width": 2},
            "marker": {"size": 5},
            "hovertemplate": (
                "%{customdata[4]}<br>engagement %{y:.2f}<br>faces highly engaged %{customdata[0]:.0%}, "
                "nominal %{customdata[1]:.0%}, low %{customdata[2]:.0%}<br>faces per frame %{customdata[3]:.1f}"
                "<extra></extra>"
            ),
        }
    ]
    bands = [
        (0, low_band, "rgba(213,94,0,0.13)", f"low (< {low_band:g})"),
        (low_band, high_band, "rgba(240,240,240,0.0)", "nominal"),
        (high_band, 1, "rgba(0,114,178,0.13)", f"high (> {high_band:g})"),
    ]
    shapes, notes = suppressed_shapes(slots)
    for y0, y1, colour, label in bands:
        shapes.append(band_rect(y0, y1, colour))
        notes.append(
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
        )
    layout = chart_layout(
        title,
        MINUTE_AXIS,
        "Engagement (0 = none, 1 = full)",
        yaxis={"range": [0, 1]},
        xaxis=minute_axis(len(slots)),
        shapes=shapes,
        annotations=notes,
        showlegend=False,
    )
    return {"data": data, "layout": layout}


def faces_timeline(minutes: Sequence[MinuteMetrics], title: str = "Faces seen per minute") -> dict[str, Any]:
    """Mean faces per sampled frame, each minute; minutes suppressed for privacy are grey and hatched."""
    slots = by_minute(minutes)
    data = []
    for suppressed, name, colour, pattern in (
        (False, "faces", "#555555", ""),  # grey: no emotion owns it
        (True, "too few faces: emotions hidden", "#999999", "/"),
    ):
        x, y, custom = [], [], []
        for i, m in enumerate(slots):
            if m is not None and m.suppressed == suppressed:
                x.append(i + 1)
                y.append(m.faces_mean)
                custom.append([m.faces_max, m.frames_sampled, m.frames_expected, _minute_label(i)])
        if not x and suppressed:
            continue
        data.append(
            {
                "type": "bar",
                "name": name,
                "x": x,
                "y": y,
                "customdata": custom,
                "marker": {"color": colour, "pattern": {"shape": pattern}},
                "hovertemplate": (
                    "%{customdata[3]}<br>%{y:.1f} faces per frame (most %{customdata[0]})<br>"
                    "%{customdata[1]} of %{customdata[2]} frames sampled<extra></extra>"
                ),
            }
        )
    layout = chart_layout(
        title,
        MINUTE_AXIS,
        "Faces per frame",
        xaxis=minute_axis(len(slots)),
        yaxis={"rangemode": "tozero"},
        bargap=0.1,
        barmode="overlay",
    )
    return {"data": data, "layout": layout}


def emotion_totals(minutes: Sequence[MinuteMetrics]) -> dict[str, float]:
    """Share of all the session's faces whose strongest emotion is each one (weighted by faces per minute)."""
    totals = dict.fromkeys(EMOTIONS, 0.0)
    weight = 0
    for m in minutes:
        if m.suppressed or not m.emotion_top_share or m.faces_total <= 0:
            continue
        weight += m.faces_total
        for e in EMOTIONS:
            totals[e] += (m.emotion_top_share.get(e) or 0.0) * m.faces_total
    return {e: v / weight for e, v in totals.items()} if weight else {}


def dominant_emotions(minutes: Sequence[MinuteMetrics], title: str = "Dominant emotions of the session") -> dict:
    """Horizontal bars: the share of all faces for each emotion, largest on top."""
    totals = emotion_totals(minutes)
    if not totals:
        return empty_figure(title, "No emotion figures: no minute had enough faces", "Share of faces", "Emotion")
    order = sorted(totals, key=totals.get)  # plotly draws the first bar at the bottom
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "x": [totals[e] for e in order],
            "y": order,
            "text": [f"{totals[e]:.0%}" for e in order],
            "textposition": "outside",
            "marker": {"color": [EMOTION_COLOURS[e] for e in order], "line": {"color": "#333333", "width": 0.5}},
            "hovertemplate": "%{y}: %{x:.1%} of faces<extra></extra>",
        }
    ]
    top = max(totals.values())
    layout = chart_layout(
        title,
        "Share of all faces in the session",
        "Strongest emotion",
        xaxis={"tickformat": ".0%", "range": [0, min(1.0, top * 1.25 + 0.02)]},
        yaxis={"ticksuffix": " ", "automargin": True, "title": {"text": "Strongest emotion", "standoff": 12}},
        showlegend=False,
    )
    return {"data": data, "layout": layout}


MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "cross")


def comparison(series: Sequence[tuple[str, Sequence[MinuteMetrics]]], low_band: float, high_band: float) -> dict:
    """Engagement of several sessions over lecture time, one line (colour and dash) each."""
    title = "Engagement over lecture time, session by session"
    if not series:
        return empty_figure(title, "Pick two or more sessions above to compare them", MINUTE_AXIS, "Engagement")
    data = []
    for i, (name, minutes) in enumerate(series):
        slots = by_minute(minutes)
        data.append(
            {
                "type": "scatter",
                # Markers too: a one-minute session, or a minute alone between privacy gaps, has no line to draw.
                "mode": "lines+markers",
                "name": name,
                "x": list(range(1, len(slots) + 1)),
                "y": [None if m is None or m.suppressed else m.engagement for m in slots],
                "connectgaps": False,
                "line": {"color": LINE_COLOURS[i % len(LINE_COLOURS)], "dash": LINE_DASHES[i % len(LINE_DASHES)]},
                "marker": {
                    "color": LINE_COLOURS[i % len(LINE_COLOURS)],
                    "size": 8,
                    "symbol": MARKERS[i % len(MARKERS)],
                },
                "hovertemplate": f"{name}<br>minute %{{x}}: engagement %{{y:.2f}}<extra></extra>",
            }
        )
    shapes = [
        band_rect(y0, y1, colour)
        for y0, y1, colour in ((0, low_band, "rgba(213,94,0,0.10)"), (high_band, 1, "rgba(0,114,178,0.10)"))
    ]
    longest = max((len(by_minute(m)) for _, m in series), default=1)
    layout = chart_layout(
        title,
        MINUTE_AXIS,
        "Engagement index (0–1)",
        yaxis={"range": [0, 1]},
        xaxis=minute_axis(longest),
        shapes=shapes,
        hovermode="x unified",
    )
    return {"data": data, "layout": layout}
