"""One shape for a minute: MinuteMetrics' flat row, the session's engagement and the clock text."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from engage.emotions import EMOTIONS
from engage.minutes.metrics import (
    FLOAT_COLUMNS,
    OPTIONAL_INT_COLUMNS,
    ROW_COLUMNS,
    MinuteMetrics,
    session_engagement,
)
from engage.minutes.timefmt import format_clock


def scored(minute: int, engagement: float = 0.6, faces: int = 100) -> MinuteMetrics:
    mean = {e: (i + 1) / 28 for i, e in enumerate(EMOTIONS)}  # distinct values, so a swapped column shows
    share = {e: (7 - i) / 28 for i, e in enumerate(EMOTIONS)}
    corrected = {e: (i + 2) / 35 for i, e in enumerate(EMOTIONS)}
    return MinuteMetrics(
        minute, minute * 60.0, minute * 60.0 + 59.5, 118, 120, faces, faces / 118, 3, False,
        mean, share, "neutral", -0.2, engagement, 0.3, 0.5, 0.2, engagement - 0.05, engagement + 0.04,
        corrected, {e: v / 2 for e, v in corrected.items()}, {e: v * 1.5 for e, v in corrected.items()},
        4, 0.5, 0.375, 0.125, 0.75, engagement + 0.1,
    )  # fmt: skip


def suppressed(minute: int) -> MinuteMetrics:
    return MinuteMetrics(minute, minute * 60.0, minute * 60.0 + 59.0, 60, 60, 30, 0.5, 1, True)


def test_row_is_flat_with_one_column_per_emotion_and_a_one_based_minute() -> None:
    m = scored(0)
    row = m.to_row()
    assert tuple(row) == ROW_COLUMNS
    assert row["minute"] == 1 == m.number and m.minute == 0
    assert ROW_COLUMNS[0] == "minute" and "minute_index" not in ROW_COLUMNS
    for e in EMOTIONS:
        assert row[f"mean_{e}"] == m.emotion_mean[e] and row[f"share_{e}"] == m.emotion_top_share[e]
        assert row[f"corrected_{e}"] == m.emotion_corrected[e]
        assert row[f"corrected_{e}_low90"] == m.emotion_corrected_low90[e] < row[f"corrected_{e}"]
        assert row[f"corrected_{e}_high90"] == m.emotion_corrected_high90[e] > row[f"corrected_{e}"]
    assert (row["engagement_low90"], row["engagement_high90"]) == pytest.approx((0.55, 0.64))
    # The newer columns come after every older one, so a spreadsheet's earlier rows keep their columns.
    assert ROW_COLUMNS.index("engagement_low90") > ROW_COLUMNS.index("share_neutral")
    assert ROW_COLUMNS.index("corrected_neutral_high90") + 1 == ROW_COLUMNS.index("people")
    assert ROW_COLUMNS[-6:] == (
        "people", "attention_facing", "attention_down", "attention_away", "readable_share", "engagement_v1"
    )  # fmt: skip
    attention = (row["people"], row["attention_facing"], row["attention_down"], row["attention_away"])
    assert attention == (4, 0.5, 0.375, 0.125)
    assert (row["readable_share"], row["engagement_v1"]) == (0.75, pytest.approx(0.7))
    assert all(not isinstance(v, dict) for v in row.values())  # nothing nested: every value is a cell
    assert json.loads(json.dumps(row)) == row


def test_row_round_trips_including_suppressed_and_through_pandas() -> None:
    minutes = [scored(0), suppressed(1), scored(2, engagement=0.9)]
    for m in minutes:
        assert MinuteMetrics.from_row(m.to_row()) == m
    row = suppressed(1).to_row()
    assert all(row[f"{p}_{e}"] is None for p in ("mean", "share") for e in EMOTIONS)
    assert row["engagement"] is None and row["dominant_emotion"] is None
    # pandas turns the missing figures into NaN and the ints into numpy ints: they still come back.
    frame = pd.DataFrame([m.to_row() for m in minutes], columns=list(ROW_COLUMNS))
    assert frame["people"].isna().tolist() == [False, True, False]  # 4, NaN, 4: a float column in pandas
    assert [MinuteMetrics.from_row(r) for r in frame.to_dict("records")] == minutes
    # As the exports type it: people a nullable whole number (pandas' NA when missing), the figures floats.
    typed = frame.astype({**dict.fromkeys(FLOAT_COLUMNS, "float64"), **dict.fromkeys(OPTIONAL_INT_COLUMNS, "Int64")})
    back = [MinuteMetrics.from_row(r) for r in typed.to_dict("records")]
    assert back == minutes and isinstance(back[0].people, int) and back[1].people is None


def test_a_row_from_before_the_intervals_reads_with_them_empty() -> None:
    m = scored(0)
    old = {k: v for k, v in m.to_row().items() if "90" not in k and not k.startswith("corrected_")}
    back = MinuteMetrics.from_row(old)
    assert back.engagement == m.engagement and back.emotion_mean == m.emotion_mean
    assert back.engagement_low90 is None and back.engagement_high90 is None
    assert back.emotion_corrected is None and back.emotion_corrected_low90 is None
    with pytest.raises(KeyError):  # an older column is still required
        MinuteMetrics.from_row({k: v for k, v in old.items() if k != "engagement"})


def test_a_row_from_before_head_pose_reads_with_attention_empty() -> None:
    m = scored(0)
    newer = ("people", "attention_facing", "attention_down", "attention_away", "readable_share", "engagement_v1")
    old = {k: v for k, v in m.to_row().items() if k not in newer}
    back = MinuteMetrics.from_row(old)
    assert back.engagement == m.engagement and back.emotion_corrected == m.emotion_corrected
    assert all(getattr(back, name) is None for name in newer)
    assert all(back.to_row()[name] is None for name in newer)


def test_row_cleans_non_finite_figures_and_rejects_unknown_emotions() -> None:
    m = scored(0)
    m.valence = math.nan
    m.emotion_mean = {**(m.emotion_mean or {}), "happy": math.inf}
    row = m.to_row()
    assert row["valence"] is None and row["mean_happy"] is None
    m.emotion_top_share = {"contempt": 1.0}
    with pytest.raises(ValueError, match="contempt"):
        m.to_row()


def test_session_engagement_is_weighted_by_faces() -> None:
    minutes = [scored(0, engagement=0.8, faces=300), scored(1, engagement=0.2, faces=100), suppressed(2)]
    assert session_engagement(minutes) == pytest.approx((0.8 * 300 + 0.2 * 100) / 400)  # not the plain mean 0.5
    assert session_engagement([suppressed(0)]) is None
    assert session_engagement([]) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (4.97, "0:05"), (75.4, "1:15"), (599.6, "10:00"), (3600, "1:00:00"), (3725, "1:02:05")],
)
def test_format_clock(seconds: float, text: str) -> None:
    assert format_clock(seconds) == text


def test_format_clock_without_a_time() -> None:
    assert format_clock(None) == "?"
    assert format_clock(None, missing="–") == "–"


def test_session_engagement_weights_minutes_by_faces_and_skips_hidden_ones():
    def minute(k: int, engagement: float | None, faces: int, suppressed: bool = False) -> MinuteMetrics:
        return MinuteMetrics(
            k, 60.0 * k, 60.0 * k + 59, 60, 60, faces, faces / 60, 1, suppressed, engagement=engagement
        )

    assert session_engagement([minute(0, 0.2, 1), minute(1, 0.8, 3)]) == pytest.approx((0.2 + 3 * 0.8) / 4)
    # A suppressed minute's figure (if one were there) and a minute without figures never count.
    assert session_engagement([minute(0, 0.5, 10), minute(1, 0.9, 10, suppressed=True)]) == 0.5
    assert session_engagement([minute(0, 0.5, 10), minute(1, None, 10)]) == 0.5
    assert session_engagement([minute(0, 0.7, 0)]) is None and session_engagement([]) is None
