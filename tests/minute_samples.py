"""A plain, valid minute for tests that need stored minutes but not particular figures."""

from __future__ import annotations

from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics


def sample_minute(k: int, valence: float = 0.0) -> MinuteMetrics:
    """Minute ``k`` (0-based): 60 frames, two faces each, even emotion shares, engagement 0.5."""
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
    )
