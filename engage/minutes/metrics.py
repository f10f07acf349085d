"""MinuteMetrics: the only thing engage stores about what a camera saw (aggregates, no images).

A minute has one flat shape, its row (``MinuteMetrics.to_row``, columns ``ROW_COLUMNS``): every export
(CSV, Parquet, JSON, ``engage show --json``), the Google Sheets rows, the dashboard's CSV download and the
database rows are built from it. In the row ``minute`` is 1-based (1 = the first minute), as people count;
``MinuteMetrics.minute`` itself is the 0-based index the database stores.

Columns added after the first release come last, in the order they were added (a spreadsheet's older rows keep
their columns): the 90% intervals and corrected shares, then head pose and attention (``people``,
``attention_*``, ``readable_share``, ``engagement_v1``). A row without them, or a minute stored before them,
reads with them None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engage.emotions import EMOTIONS

MEAN_PREFIX = "mean_"  # mean_<emotion>: mean probability of the emotion over the minute's faces (raw)
SHARE_PREFIX = "share_"  # share_<emotion>: share of the minute's faces whose top label is the emotion (raw)
CORRECTED_PREFIX = "corrected_"  # corrected_<emotion>: the share corrected for the model's confusions
LOW90_SUFFIX = "_low90"  # <figure>_low90 / <figure>_high90: its 90% interval
HIGH90_SUFFIX = "_high90"
ATTENTION_PREFIX = "attention_"  # attention_<state>: share of the face-samples with a known head pose in the state
ATTENTION_STATES: tuple[str, ...] = ("facing", "down", "away")  # a minute's three attention shares sum to 1

ROW_COLUMNS: tuple[str, ...] = (
    "minute",
    "start_s",
    "end_s",
    "frames_sampled",
    "frames_expected",
    "faces_total",
    "faces_mean",
    "faces_max",
    "suppressed",
    "dominant_emotion",
    "valence",
    "engagement",
    "engagement_high",
    "engagement_nominal",
    "engagement_low",
    *(MEAN_PREFIX + e for e in EMOTIONS),
    *(SHARE_PREFIX + e for e in EMOTIONS),
    # Added later, so they come after the first ones (a spreadsheet's older rows keep their columns): the 90%
    # intervals and the corrected shares (engage.minutes.shares). Minutes stored before them have None here.
    "engagement" + LOW90_SUFFIX,
    "engagement" + HIGH90_SUFFIX,
    *(CORRECTED_PREFIX + e + suffix for e in EMOTIONS for suffix in ("", LOW90_SUFFIX, HIGH90_SUFFIX)),
    # Then head pose and attention: people, the attention shares, the readable share, the expression-only index.
    "people",
    *(ATTENTION_PREFIX + state for state in ATTENTION_STATES),
    "readable_share",
    "engagement_v1",
)

_INTS = ("frames_sampled", "frames_expected", "faces_total", "faces_max")
_FLOATS = ("start_s", "end_s", "faces_mean")
_OPTIONAL_FLOATS = (
    "valence",
    "engagement",
    "engagement_high",
    "engagement_nominal",
    "engagement_low",
    "engagement_low90",
    "engagement_high90",
    *(ATTENTION_PREFIX + state for state in ATTENTION_STATES),
    "readable_share",
    "engagement_v1",
)
# Every column whose value is a whole number or None (pandas' nullable "Int64" in a table, so 3 stays 3).
OPTIONAL_INT_COLUMNS: tuple[str, ...] = ("people",)
# Every column whose value is a number or None: float columns in a table, even when every value is missing.
FLOAT_COLUMNS: tuple[str, ...] = tuple(
    c for c in ROW_COLUMNS if c not in ("minute", *_INTS, *OPTIONAL_INT_COLUMNS, "suppressed", "dominant_emotion")
)
_NEWER = frozenset(ROW_COLUMNS[ROW_COLUMNS.index("engagement" + LOW90_SUFFIX) :])  # absent from older rows


def _finite_or_none(value: Any) -> float | None:
    """A float, or None for None and NaN/inf (a missing figure: an empty cell, JSON null, SQL NULL)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _int_or_none(value: Any) -> int | None:
    """An int, or None for None, NaN (a missing number that went through pandas) and pandas' NA."""
    if value is None:
        return None
    try:
        number = float(value)
    except TypeError:  # pandas.NA: a missing value in a nullable integer column
        return None
    return int(number) if math.isfinite(number) else None


@dataclass
class MinuteMetrics:
    minute: int  # 0-based minute of media time (or of the live session)
    start_s: float  # media seconds at the minute's start
    end_s: float  # media seconds of the last sampled frame in the minute (<= start_s + 60)
    frames_sampled: int
    frames_expected: int  # frames the sample rate intended for the covered time
    faces_total: int  # face detections in the minute (a face seen in 60 frames counts 60 times)
    faces_mean: float  # mean faces per sampled frame
    faces_max: int
    suppressed: bool  # fewer faces than privacy.min_faces: emotion fields are None
    emotion_mean: dict[str, float] | None = None  # mean probability per emotion (EMOTIONS keys)
    emotion_top_share: dict[str, float] | None = None  # share of faces whose top label is the emotion
    dominant_emotion: str | None = None
    valence: float | None = None  # mean P(happy) - mean P(angry+disgust+fear+sad), in [-1, 1]
    # Mean per-face engagement index in [0, 1]: with head pose (v2) each face's emotion weight times its attention
    # weight; minutes stored before attention have the expression-only index here (engagement_v1's figure).
    engagement: float | None = None
    engagement_high: float | None = None  # share of faces with index > 0.65
    engagement_nominal: float | None = None  # share with 0.25 <= index <= 0.65
    engagement_low: float | None = None  # share with index < 0.25
    engagement_low90: float | None = None  # 90% interval of the engagement index (see engage.minutes.shares)
    engagement_high90: float | None = None
    # Shares corrected for the model's confusions (engage.minutes.shares) and their 90% intervals; None without
    # the model's share calibration, for suppressed minutes and for minutes stored before they existed.
    emotion_corrected: dict[str, float] | None = None
    emotion_corrected_low90: dict[str, float] | None = None
    emotion_corrected_high90: dict[str, float] | None = None
    # Head pose and attention (engage.attention); None for minutes stored before engage measured them.
    people: int | None = None  # distinct anonymous face tracks seen in the minute
    attention_facing: float | None = None  # share of face-samples with a known head pose facing the front
    attention_down: float | None = None  # ... looking down (notes, a laptop, a phone)
    attention_away: float | None = None  # ... turned away; the three shares sum to 1
    readable_share: float | None = None  # share of face-samples frontal enough for the expression model
    engagement_v1: float | None = None  # the expression-only index (before attention), kept for comparison

    @property
    def number(self) -> int:
        """The minute as people count it: 1 is the first minute."""
        return self.minute + 1

    def to_row(self) -> dict[str, Any]:
        """The flat row, keys ``ROW_COLUMNS`` in order: plain ints, floats, bools, str and None (JSON-ready).

        ``minute`` is 1-based; missing and non-finite figures are None. Raises ValueError for an emotion
        that is not one of EMOTIONS.
        """
        row: dict[str, Any] = {
            "minute": self.number,
            **{name: float(getattr(self, name)) for name in _FLOATS},
            **{name: int(getattr(self, name)) for name in _INTS},
            "suppressed": bool(self.suppressed),
            "dominant_emotion": self.dominant_emotion,
            **{name: _finite_or_none(getattr(self, name)) for name in _OPTIONAL_FLOATS},
            **{name: _int_or_none(getattr(self, name)) for name in OPTIONAL_INT_COLUMNS},
        }
        for (prefix, suffix), values in self._emotion_fields().items():
            unknown = set(values or {}) - set(EMOTIONS)
            if unknown:
                raise ValueError(f"unknown emotion(s) {sorted(unknown)}; expected keys from {EMOTIONS}")
            for e in EMOTIONS:
                row[prefix + e + suffix] = _finite_or_none((values or {}).get(e))
        return {c: row[c] for c in ROW_COLUMNS}

    def _emotion_fields(self) -> dict[tuple[str, str], dict[str, float] | None]:
        """Each per-emotion field by its row columns' (prefix, suffix)."""
        return {
            (MEAN_PREFIX, ""): self.emotion_mean,
            (SHARE_PREFIX, ""): self.emotion_top_share,
            (CORRECTED_PREFIX, ""): self.emotion_corrected,
            (CORRECTED_PREFIX, LOW90_SUFFIX): self.emotion_corrected_low90,
            (CORRECTED_PREFIX, HIGH90_SUFFIX): self.emotion_corrected_high90,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MinuteMetrics:
        """The minute of a row in ``to_row``'s shape (1-based ``minute``); other keys are ignored.

        NaN (and pandas' NA) reads as missing, so rows that went through pandas come back too; a row from
        before the newer columns existed (the intervals, corrected shares, attention) reads with them None.
        """

        def value(name: str) -> Any:
            return row.get(name) if name in _NEWER else row[name]

        def emotions(prefix: str, suffix: str = "") -> dict[str, float] | None:
            values = {e: _finite_or_none(value(prefix + e + suffix)) for e in EMOTIONS}
            return None if all(v is None for v in values.values()) else values  # type: ignore[misc]

        dominant = row["dominant_emotion"]
        return cls(
            minute=int(row["minute"]) - 1,
            **{name: float(row[name]) for name in _FLOATS},
            **{name: int(row[name]) for name in _INTS},
            suppressed=bool(row["suppressed"]),
            emotion_mean=emotions(MEAN_PREFIX),
            emotion_top_share=emotions(SHARE_PREFIX),
            emotion_corrected=emotions(CORRECTED_PREFIX),
            emotion_corrected_low90=emotions(CORRECTED_PREFIX, LOW90_SUFFIX),
            emotion_corrected_high90=emotions(CORRECTED_PREFIX, HIGH90_SUFFIX),
            dominant_emotion=dominant if isinstance(dominant, str) else None,
            **{name: _finite_or_none(value(name)) for name in _OPTIONAL_FLOATS},
            **{name: _int_or_none(value(name)) for name in OPTIONAL_INT_COLUMNS},
        )


def session_engagement(minutes: Iterable[MinuteMetrics]) -> float | None:
    """A session's mean engagement: the minutes' engagement weighted by their faces (None without figures).

    Weighting by faces makes it the mean over every face the session saw, not over minutes.
    """
    total = weight = 0.0
    for m in minutes:
        if m.engagement is not None and not m.suppressed and m.faces_total > 0:
            total += m.engagement * m.faces_total
            weight += m.faces_total
    return total / weight if weight else None


def session_attention(minutes: Iterable[MinuteMetrics]) -> dict[str, float] | None:
    """A session's attention shares by state (ATTENTION_STATES), the minutes' shares weighted by their faces;
    None when no minute has them (a session analysed before engage measured head pose)."""
    totals = dict.fromkeys(ATTENTION_STATES, 0.0)
    weight = 0.0
    for m in minutes:
        shares = [getattr(m, ATTENTION_PREFIX + state) for state in ATTENTION_STATES]
        if m.faces_total > 0 and all(v is not None and math.isfinite(v) for v in shares):
            for state, share in zip(ATTENTION_STATES, shares, strict=True):
                totals[state] += share * m.faces_total
            weight += m.faces_total
    return {state: total / weight for state, total in totals.items()} if weight else None
