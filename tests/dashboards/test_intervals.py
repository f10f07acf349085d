"""The session page's 90% bands (dashboards.intervals) as data, without a browser."""

from __future__ import annotations

import pytest

from dashboards import figures, intervals
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics


def minute(index: int, engagement: float, sure: bool = True) -> MinuteMetrics:
    m = MinuteMetrics(index, index * 60.0, index * 60.0 + 59, 60, 60, 120, 2.0, 2, False)
    m.emotion_mean = dict.fromkeys(EMOTIONS, 1 / 7)
    m.emotion_top_share = dict.fromkeys(EMOTIONS, 1 / 7)
    m.engagement = engagement
    if sure:  # a minute stored before the intervals existed has none
        m.engagement_low90, m.engagement_high90 = engagement - 0.1, engagement + 0.05
        m.emotion_corrected = {e: (0.4 if e == "neutral" else 0.1) for e in EMOTIONS}
        m.emotion_corrected_low90 = {e: v / 2 for e, v in m.emotion_corrected.items()}
        m.emotion_corrected_high90 = {e: v + 0.2 for e, v in m.emotion_corrected.items()}
    return m


HIDDEN = MinuteMetrics(2, 120.0, 179.0, 60, 60, 20, 0.3, 1, True)
MINUTES = [minute(0, 0.6), minute(1, 0.7), HIDDEN, minute(3, 0.5, sure=False), minute(4, 0.4)]


def test_engagement_band_spans_each_minutes_interval_with_gaps_where_there_is_none() -> None:
    plain = figures.engagement_timeline(MINUTES, 0.25, 0.65)
    banded = intervals.add_engagement_band(plain, MINUTES)
    band, *line, edges = banded["data"]
    assert line == plain["data"]  # the index's own line is untouched, drawn over the band
    assert band["fill"] == "toself" and band["name"] == "90% interval"
    # One closed outline for minutes 1-2, a gap (hidden minute 3, minute 4 stored without an interval), then
    # minute 5 alone, widened a little so it shows.
    runs = [[]]
    for x, y in zip(band["x"], band["y"], strict=True):
        if x is None:
            runs.append([])
        else:
            runs[-1].append((x, y))
    first, last = [r for r in runs if r]
    assert {x for x, _ in first} == {1, 2} and {round(y, 6) for _, y in first} == {0.5, 0.65, 0.6, 0.75}
    assert {round(x, 1) for x, _ in last} == {4.7, 5.3} and {round(y, 6) for _, y in last} == {0.3, 0.45}
    assert edges["customdata"][3] == [None, None] and edges["customdata"][0] == [0.5, 0.65]
    # Minutes from before the intervals existed: the chart stays as it was.
    old = [minute(0, 0.6, sure=False)]
    assert (
        intervals.add_engagement_band(figures.engagement_timeline(old, 0.25, 0.65), old)["data"]
        == (figures.engagement_timeline(old, 0.25, 0.65)["data"])
    )


def test_corrected_shares_are_one_strip_per_emotion_with_their_band() -> None:
    figure = intervals.corrected_shares_figure(MINUTES)
    lines = [t for t in figure["data"] if t.get("name")]
    bands = [t for t in figure["data"] if t.get("fill") == "toself"]
    assert [t["name"] for t in lines] == list(figures.STACK_ORDER) and len(bands) == 7
    neutral = lines[0]
    assert neutral["y"] == [0.4, 0.4, None, None, 0.4]  # hidden and older minutes are gaps, not zeros
    assert neutral["customdata"][0] == pytest.approx([0.2, 0.6])
    assert "90%" in neutral["hovertemplate"]
    axes = {t["yaxis"] for t in lines}
    assert len(axes) == 7 and all(figure["layout"][f"yaxis{a[1:]}"]["range"] == [0, 1] for a in axes)
    assert figure["layout"]["shapes"]  # the hidden minute is shaded as on the other charts


def test_a_session_without_corrected_shares_says_why() -> None:
    figure = intervals.corrected_shares_figure([minute(0, 0.6, sure=False)])
    assert figure["data"] == [] and "calibrate" in figure["layout"]["annotations"][0]["text"]
