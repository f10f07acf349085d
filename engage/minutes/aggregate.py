"""Per-minute aggregation of the faces of each sample into MinuteMetrics.

Definitions (also in the README):
- readable faces: frontal enough to the camera for the expression model (engage.attention). Emotion figures
  (means, shares, corrected shares, valence, dominant emotion) count readable faces only.
- expression index of a face: sum_k p_k * w_k / max(w) with the configured emotion weights. ``engagement_v1``
  is its mean over every face of the minute, readable or not: the expression-only index of earlier releases.
- engagement index (v2) of a face: its expression index (a face that is not readable counts as neutral) times
  the attention weight of its state (facing / down / away; 1 for a face without a known pose). ``engagement``
  is its mean over the minute's faces; the band shares count faces above ``high_band``, between the bands
  (inclusive) and below ``low_band``.
- attention shares: the shares of the minute's face samples with a known pose that were facing, down, away.
- people: the distinct anonymous tracks seen in the minute.
- valence: mean P(happy) minus mean P(angry + disgust + fear + sad), in [-1, 1].
- privacy: a minute is suppressed (counts kept, every figure None) when the mean number of faces in the
  frames that had any face is below ``min_faces``, or when it had no face at all; its emotion figures are left
  out when the same holds for its readable faces.
- corrected shares and the 90% intervals of them and of the engagement index: engage.minutes.shares.
The open minute keeps its faces' numbers in memory (a few thousand faces a minute) for the intervals; they are
dropped when it closes, and only the aggregates are ever stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from engage.config import Config
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics
from engage.minutes.shares import ShareCalibration, corrected_shares, load_share_calibration, mean_interval
from engage.types import ATTENTION_STATES, FrameFaces

NEGATIVE = [EMOTIONS.index(e) for e in ("angry", "disgust", "fear", "sad")]
HAPPY = EMOTIONS.index("happy")


def engagement_index(probabilities: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """Per-face engagement index in [0, 1] for (N, 7) probabilities."""
    w = np.array([weights[e] for e in EMOTIONS], dtype=np.float64)
    return probabilities.astype(np.float64) @ w / w.max()


DEFAULT_ATTENTION_WEIGHTS = {"facing": 1.0, "down": 0.8, "away": 0.3}


class _OpenMinute:
    """The open minute's faces, one array per frame with faces (for the intervals); dropped when it closes."""

    def __init__(self, minute: int) -> None:
        self.minute = minute
        self.frames = 0
        self.frames_with_faces = 0
        self.faces = 0
        self.faces_max = 0
        self.last_timestamp = minute * 60.0
        self.probabilities: list[np.ndarray] = []  # (faces, 7) of the readable faces
        self.readable_frames: list[int] = []  # the frame of each readable face (index into frames with faces)
        self.readable_places: list[np.ndarray] = []
        self.expressions: list[np.ndarray] = []  # every face's expression index (engagement_v1)
        self.engagements: list[np.ndarray] = []  # every face's engagement index (v2)
        self.places: list[np.ndarray] = []  # every face's track (or a label of its own)
        self.states: list[np.ndarray] = []  # every face's state as an index into ATTENTION_STATES, -1 unknown
        self.next_place = -1  # untracked faces get labels of their own, counting down from -1
        self.tracked = False  # whether the attention stage gave the faces track ids


class MinuteAggregator:
    """Feed FrameFaces in time order with ``add``; it returns minutes as they close.

    ``shares``: the model's share calibration; without it the corrected shares stay None.
    """

    def __init__(
        self,
        sample_fps: float,
        weights: Mapping[str, float],
        high_band: float = 0.65,
        low_band: float = 0.25,
        min_faces: int = 1,
        shares: ShareCalibration | None = None,
        attention_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.sample_fps = sample_fps
        self.weights = dict(weights)
        self.attention_weights = np.array(
            [(attention_weights or DEFAULT_ATTENTION_WEIGHTS)[s] for s in ATTENTION_STATES] + [1.0]
        )  # the last entry: a face without a known pose
        self.neutral_index = float(engagement_index(np.eye(len(EMOTIONS))[[EMOTIONS.index("neutral")]], weights)[0])
        self.high_band, self.low_band = high_band, low_band
        self.min_faces = min_faces
        self.shares = shares
        self._open: _OpenMinute | None = None

    @classmethod
    def from_config(cls, config: Config) -> MinuteAggregator:
        """The aggregator for a configuration, with the share calibration stored beside its model (if any)."""
        e = config.engagement
        return cls(
            config.sample_fps,
            e.weights,
            high_band=e.high_band,
            low_band=e.low_band,
            min_faces=config.privacy.min_faces,
            shares=load_share_calibration(config.classifier.model),
            attention_weights=config.attention.weights,
        )

    def add(self, frame: FrameFaces) -> list[MinuteMetrics]:
        """Account one sampled frame; returns the minute it closed, if any."""
        minute = int(frame.timestamp // 60)
        closed: list[MinuteMetrics] = []
        if self._open is not None and minute != self._open.minute:
            # a gap of more than a minute (a paused recorder) must not count its missing frames here
            closed.append(self._close(self._open, covered_until=min(minute, self._open.minute + 1) * 60.0))
            self._open = None
        if self._open is None:
            self._open = _OpenMinute(minute)
        m = self._open
        n = len(frame.boxes)
        m.frames += 1
        m.last_timestamp = frame.timestamp
        if n:
            self._add_faces(m, frame)
        return closed

    @property
    def open_engagement(self) -> float | None:
        """The open minute's engagement so far (the mean over its faces), None before its first face."""
        if self._open is None or not self._open.faces:
            return None
        return sum(float(e.sum()) for e in self._open.engagements) / self._open.faces

    def _add_faces(self, m: _OpenMinute, frame: FrameFaces) -> None:
        n = len(frame.boxes)
        p = np.asarray(frame.probabilities, dtype=np.float64).reshape(n, len(EMOTIONS))
        readable = np.ones(n, bool) if frame.readable is None else np.asarray(frame.readable, bool)
        states = np.array(
            [-1 if s is None else ATTENTION_STATES.index(s) for s in (frame.states or [None] * n)], np.int64
        )
        expression = engagement_index(p, self.weights)
        # A face the model cannot read (bent over a desk, turned aside) counts with a neutral expression.
        engagement = np.where(readable, expression, self.neutral_index) * self.attention_weights[states]
        places = np.full(n, -1, np.int64) if frame.tracks is None else np.asarray(frame.tracks, np.int64).copy()
        m.tracked = m.tracked or frame.tracks is not None
        untracked = places < 0
        places[untracked] = np.arange(m.next_place, m.next_place - int(untracked.sum()), -1)
        m.next_place -= int(untracked.sum())
        m.frames_with_faces += 1
        m.faces += n
        m.faces_max = max(m.faces_max, n)
        m.expressions.append(expression)
        m.engagements.append(engagement)
        m.places.append(places)
        m.states.append(states)
        if readable.any():
            m.probabilities.append(p[readable])
            m.readable_frames.extend([m.frames_with_faces - 1] * int(readable.sum()))
            m.readable_places.append(places[readable])

    def finish(self, end_time: float | None = None) -> MinuteMetrics | None:
        """Close the open minute at the end of the source (``end_time``: media end, if known)."""
        if self._open is None:
            return None
        m, self._open = self._open, None
        covered_until = end_time if end_time is not None else m.last_timestamp + 1 / self.sample_fps
        return self._close(m, covered_until=min(covered_until, (m.minute + 1) * 60.0))

    def _close(self, m: _OpenMinute, covered_until: float) -> MinuteMetrics:
        start = m.minute * 60.0
        expected = max(m.frames, math.ceil(round((covered_until - start) * self.sample_fps, 6)))
        typical = m.faces / m.frames_with_faces if m.frames_with_faces else 0.0
        metrics = MinuteMetrics(
            minute=m.minute,
            start_s=start,
            end_s=m.last_timestamp,
            frames_sampled=m.frames,
            frames_expected=expected,
            faces_total=m.faces,
            faces_mean=m.faces / m.frames if m.frames else 0.0,
            faces_max=m.faces_max,
            suppressed=m.faces == 0 or typical < self.min_faces,
        )
        if metrics.suppressed:
            return metrics
        self._attention(m, metrics)
        # The privacy rule again for the emotion figures, which describe only the readable faces.
        readable = len(m.readable_frames)
        if readable and readable / len(m.readable_places) >= self.min_faces:
            self._emotions(m, metrics)
        return metrics

    def _attention(self, m: _OpenMinute, metrics: MinuteMetrics) -> None:
        """Engagement (v1 and v2, bands, interval), people and attention shares: figures of every face."""
        engagements = np.concatenate(m.engagements)
        metrics.engagement_v1 = float(np.concatenate(m.expressions).mean())
        metrics.engagement = float(engagements.mean())
        metrics.engagement_high = float((engagements > self.high_band).mean())
        metrics.engagement_low = float((engagements < self.low_band).mean())
        metrics.engagement_nominal = float(((engagements >= self.low_band) & (engagements <= self.high_band)).mean())
        # Faces of one frame, and one face across frames, are not independent readings.
        frames = (np.repeat(np.arange(len(m.engagements)), [len(e) for e in m.engagements]),)
        places = np.concatenate(m.places)
        metrics.engagement_low90, metrics.engagement_high90 = mean_interval(engagements, frames, places)
        metrics.readable_share = len(m.readable_frames) / m.faces
        if m.tracked:  # faces not confirmed as a track yet (first seen in the minute's last sample) do not count
            metrics.people = len(np.unique(places[places >= 0]))
        states = np.concatenate(m.states)
        known = states[states >= 0]
        if len(known):
            counts = np.bincount(known, minlength=len(ATTENTION_STATES)) / len(known)
            metrics.attention_facing, metrics.attention_down, metrics.attention_away = (float(c) for c in counts)

    def _emotions(self, m: _OpenMinute, metrics: MinuteMetrics) -> None:
        """The emotion figures, from the readable faces only."""
        p = np.concatenate(m.probabilities)
        mean = p.mean(axis=0)
        metrics.emotion_mean = {e: float(v) for e, v in zip(EMOTIONS, mean, strict=True)}
        top = np.bincount(p.argmax(axis=1), minlength=len(EMOTIONS)) / len(p)
        metrics.emotion_top_share = {e: float(c) for e, c in zip(EMOTIONS, top, strict=True)}
        metrics.dominant_emotion = EMOTIONS[int(mean.argmax())]
        metrics.valence = float(mean[HAPPY] - mean[NEGATIVE].sum())
        if self.shares is not None:
            # Seeded by the minute and its faces: the same video gives the same intervals on every run.
            seed = (max(m.minute, 0), m.faces)
            frames = (np.asarray(m.readable_frames),)
            places = np.concatenate(m.readable_places)
            found = corrected_shares(p, self.shares, frames, places, seed=seed)
            metrics.emotion_corrected, metrics.emotion_corrected_low90, metrics.emotion_corrected_high90 = (
                {e: float(v) for e, v in zip(EMOTIONS, values, strict=True)}
                for values in (found.shares, found.low, found.high)
            )
