"""A plain, valid minute for tests that need stored minutes but not particular figures."""

from __future__ import annotations

from typing import Any

from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics

# The row's head pose columns, in their order (last in engage.minutes.metrics.ROW_COLUMNS).
ATTENTION_COLUMNS: tuple[str, ...] = (
    "people",
    "attention_facing",
    "attention_down",
    "attention_away",
    "readable_share",
    "engagement_v1",
)


def attention_fields(k: int) -> dict[str, Any]:
    """Head pose figures for minute ``k`` (0-based) that differ per minute, so a wrong minute shows: 3 or 4 people,
    facing 50-80%, the rest down or away (the three shares sum to 1), an expression-only index beside `engagement`."""
    facing = 0.5 + 0.1 * (k % 4)
    down = round((1 - facing) * 2 / 3, 6)
    return {
        "people": 3 + k % 2,
        "attention_facing": facing,
        "attention_down": down,
        "attention_away": 1 - facing - down,
        "readable_share": 0.9 - 0.05 * (k % 3),
        "engagement_v1": 0.55,
    }


def sample_minute(k: int, valence: float = 0.0, attention: bool = True) -> MinuteMetrics:
    """Minute ``k`` (0-based): 60 frames, two faces each, even emotion shares, engagement 0.5; head pose figures
    from ``attention_fields`` (``attention=False``: a minute stored before engage measured them)."""
    shares = {e: 1 / len(EMOTIONS) for e in EMOTIONS}
    return MinuteMetrics(
        minute=k,
        start_s=60.0 * k,
        end_s=60.0 * k + 59,
        frames_sampled=60,
        frames_expected=60,
        faces_total=120,
        faces_mean=2.0,
        faces_max=3,
        suppressed=False,
        emotion_mean=shares,
        emotion_top_share=shares,
        dominant_emotion="neutral",
        valence=valence,
        engagement=0.5,
        engagement_high=0.2,
        engagement_nominal=0.7,
        engagement_low=0.1,
        **(attention_fields(k) if attention else {}),
    )
