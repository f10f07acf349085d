"""MinuteMetrics: the only thing engage stores about what a camera saw (aggregates, no images)."""

from __future__ import annotations

from dataclasses import dataclass


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
    engagement: float | None = None  # mean per-face engagement index in [0, 1]
    engagement_high: float | None = None  # share of faces with index > 0.65
    engagement_nominal: float | None = None  # share with 0.25 <= index <= 0.65
    engagement_low: float | None = None  # share with index < 0.25
