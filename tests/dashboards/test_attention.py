"""The session page's attention timeline as data (what Plotly is asked to draw), and its note for older sessions."""

from __future__ import annotations

import pytest
from minute_samples import attention_fields, sample_minute

from dashboards import figures
from dashboards.attention import attention_note, attention_timeline
from engage.minutes.metrics import MinuteMetrics
from engage.palette import ATTENTION_HEX, EMOTION_HEX, hex_to_rgb, relative_luminance


def hidden(k: int) -> MinuteMetrics:
    return MinuteMetrics(k, 60.0 * k, 60.0 * k + 59, 60, 60, 30, 0.5, 1, True)


def test_facing_down_and_away_are_stacked_shares_per_minute_with_gaps() -> None:
    minutes = [sample_minute(0), sample_minute(1), hidden(2), sample_minute(3, attention=False), sample_minute(5)]
    figure = attention_timeline(minutes)
    bars = [t for t in figure["data"] if t["type"] == "bar"]
    assert [t["legendgroup"] for t in bars] == ["facing", "down", "away"]  # facing at the bottom
    assert [t["name"] for t in bars] == ["facing the front", "looking down", "turned away"]
    assert figure["layout"]["barmode"] == "stack" and figure["layout"]["yaxis"]["range"] == [0, 1]
    for trace in bars:
        state = trace["legendgroup"]
        assert trace["marker"]["color"] == ATTENTION_HEX[state]
        assert trace["x"] == [1, 2, 3, 4, 5, 6]
        want = [attention_fields(k)[f"attention_{state}"] for k in (0, 1)]
        # Hidden for privacy, stored before head pose, never stored: gaps, never zeros.
        assert trace["y"][:2] == pytest.approx(want) and trace["y"][2:5] == [None, None, None]
        assert trace["y"][5] == pytest.approx(attention_fields(5)[f"attention_{state}"])
    tops = [sum(t["y"][i] for t in bars) for i in (0, 1, 5)]
    assert tops == pytest.approx([1, 1, 1])  # the three shares fill the minute
    (people,) = [t for t in figure["data"] if t["name"] == "people"]
    assert people["customdata"] == [3, 4, None, None, None, 4] and "people" in people["hovertemplate"]
    # The grey "hidden (privacy)" band over minute 3, as on the other charts.
    assert [(s["x0"], s["x1"]) for s in figure["layout"]["shapes"]] == [(2.5, 3.5)]


def test_the_attention_chart_shares_the_minute_axis_of_the_emotions_chart() -> None:
    minutes = [sample_minute(k) for k in range(7)]
    attention, emotions = attention_timeline(minutes)["layout"], figures.emotion_timeline(minutes)["layout"]
    assert attention["xaxis"]["range"] == emotions["xaxis"]["range"] == [0.5, 7.5]
    assert attention["xaxis"]["dtick"] == emotions["xaxis"]["dtick"]
    assert attention["margin"] == emotions["margin"]  # same plot width: minute 4 sits under minute 4
    assert attention["legend"]["orientation"] == "h" and attention["hovermode"] == "x unified"


def test_a_session_without_attention_gets_a_note_instead_of_a_chart() -> None:
    assert attention_note([sample_minute(0), sample_minute(1, attention=False)]) is None
    old = attention_note([sample_minute(0, attention=False), hidden(1)])
    assert old is not None and "before engage measured head pose" in old and "--new" in old
    measured = sample_minute(0, attention=False)
    measured.people, measured.readable_share = 2, 0.0  # head pose measured, but no face's pose could be told
    note = attention_note([measured])
    assert note is not None and "no minute had a face whose head pose" in note
    assert attention_note([]) is not None


def test_attention_colours_are_told_apart_by_lightness_and_are_no_emotions_colours() -> None:
    assert not set(ATTENTION_HEX.values()) & set(EMOTION_HEX.values())
    lightness = [relative_luminance(hex_to_rgb(ATTENTION_HEX[s])) for s in ("facing", "down", "away")]
    assert lightness == sorted(lightness) and min(b - a for a, b in zip(lightness, lightness[1:], strict=False)) > 0.15
