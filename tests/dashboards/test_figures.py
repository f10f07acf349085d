"""The dashboard's figures as data (what Plotly is asked to draw), without a browser."""

from __future__ import annotations

from dashboards import figures
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics


def minute(index: int, engagement: float) -> MinuteMetrics:
    m = MinuteMetrics(index, index * 60.0, index * 60.0 + 59, 60, 60, 120, 2.0, 2, False)
    m.emotion_mean = dict.fromkeys(EMOTIONS, 1 / 7)
    m.emotion_top_share = dict.fromkeys(EMOTIONS, 1 / 7)
    m.engagement = engagement
    return m


def test_compare_draws_a_one_minute_session_as_a_visible_marker():
    figure = figures.comparison(
        [("#1 demo", [minute(0, 0.6)]), ("#2 lecture", [minute(0, 0.5), minute(1, 0.7)])], 0.25, 0.65
    )
    one, two = figure["data"]
    assert "markers" in one["mode"] and one["y"] == [0.6]  # a line needs two points; a marker needs one
    assert one["marker"]["symbol"] != two["marker"]["symbol"]  # told apart without colour too


def test_session_charts_share_their_x_axis_width_and_privacy_reads_plainly():
    from dashboards import intervals
    from dashboards.attention import attention_timeline
    from dashboards.views import privacy_note

    minutes = [minute(0, 0.6), minute(1, 0.5)]
    stacked = [  # the session page's time charts, one above the other
        figures.emotion_timeline(minutes),
        attention_timeline(minutes),
        intervals.corrected_shares_figure(minutes),
        figures.engagement_timeline(minutes, 0.25, 0.65),
        figures.faces_timeline(minutes),
    ]
    margins = {(f["layout"]["margin"]["l"], f["layout"]["margin"]["r"]) for f in stacked}
    assert len(margins) == 1  # the same left and right margins: their minute axes line up
    assert all(f["layout"].get("legend", {}).get("orientation", "h") == "h" for f in stacked)  # none beside its plot
    assert figures.GRAPH_CONFIG["modeBarButtons"] == [["toImage"]]
    assert privacy_note(0, 12, 1) == "none (minutes with no face are hidden)"
    assert privacy_note(2, 12, 3) == "2 of 12 minutes (minutes averaging fewer than 3 faces a frame are hidden)"
