"""Per-minute aggregation of face-level emotion probabilities into MinuteMetrics.

Definitions (also in the README):
- engagement index of a face: sum_k p_k * w_k / max(w) with the configured emotion weights;
  a minute's ``engagement`` is its mean over all faces in the minute, and the band shares count
  faces above ``high_band``, between the bands (inclusive) and below ``low_band``.
- valence: mean P(happy) minus mean P(angry + disgust + fear + sad), in [-1, 1].
- privacy: a minute is suppressed (counts kept, emotion figures None) when the mean number of
  faces in the frames that had any face is below ``min_faces``, or when it had no face at all.
- corrected shares and the 90% intervals of them and of the engagement index: engage.minutes.shares.
The open minute keeps its faces' probabilities in memory (7 numbers a face, a few thousand faces a minute) for
the intervals; they are dropped when it closes, and only the aggregates are ever stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from engage.config import Config
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics
from engage.minutes.shares import ShareCalibration, corrected_shares, load_share_calibration, mean_interval
from engage.minutes.tracks import PlaceLinker
from engage.types import FrameFaces

NEGATIVE = [EMOTIONS.index(e) for e in ("angry", "disgust", "fear", "sad")]
HAPPY = EMOTIONS.index("happy")


def engagement_index(probabilities: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """Per-face engagement index in [0, 1] for (N, 7) probabilities."""
    w = np.array([weights[e] for e in EMOTIONS], dtype=np.float64)
    return probabilities.astype(np.float64) @ w / w.max()


class _OpenMinute:
    def __init__(self, minute: int) -> None:
        self.minute = minute
        self.frames = 0
        self.frames_with_faces = 0
        self.faces = 0
        self.faces_max = 0
        self.last_timestamp = minute * 60.0
        self.probability_sum = np.zeros(len(EMOTIONS))
        self.top_counts = np.zeros(len(EMOTIONS), np.int64)
        self.engagement_sum = 0.0
        self.bands = np.zeros(3, np.int64)  # high, nominal, low
        self.probabilities: list[np.ndarray] = []  # per frame with faces: (faces, 7), for the intervals
        self.engagements: list[np.ndarray] = []  # per frame with faces: each face's engagement index
        self.places: list[np.ndarray] = []  # per frame with faces: each face's place (engage.minutes.tracks)
        self.linker = PlaceLinker()


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
    ) -> None:
        self.sample_fps = sample_fps
        self.weights = dict(weights)
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
            p = np.asarray(frame.probabilities, dtype=np.float64)
            e = engagement_index(p, self.weights)
            m.frames_with_faces += 1
            m.faces += n
            m.faces_max = max(m.faces_max, n)
            m.probability_sum += p.sum(axis=0)
            m.top_counts += np.bincount(p.argmax(axis=1), minlength=len(EMOTIONS))
            m.engagement_sum += float(e.sum())
            m.bands += [int((e > self.high_band).sum()), 0, int((e < self.low_band).sum())]
            m.bands[1] = m.faces - m.bands[0] - m.bands[2]
            m.probabilities.append(p)
            m.engagements.append(e)
            m.places.append(m.linker.link(frame.boxes))
        return closed

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
        mean = m.probability_sum / m.faces
        metrics.emotion_mean = {e: float(v) for e, v in zip(EMOTIONS, mean, strict=True)}
        metrics.emotion_top_share = {e: float(c / m.faces) for e, c in zip(EMOTIONS, m.top_counts, strict=True)}
        metrics.dominant_emotion = EMOTIONS[int(mean.argmax())]
        metrics.valence = float(mean[HAPPY] - mean[NEGATIVE].sum())
        metrics.engagement = m.engagement_sum / m.faces
        metrics.engagement_high, metrics.engagement_nominal, metrics.engagement_low = (
            float(b / m.faces) for b in m.bands
        )
        # Faces of one frame, and faces at one place across frames, are not independent readings.
        frames = (np.repeat(np.arange(len(m.engagements)), [len(e) for e in m.engagements]),)
        places = np.concatenate(m.places)
        interval = mean_interval(np.concatenate(m.engagements), frames, places)
        metrics.engagement_low90, metrics.engagement_high90 = interval
        if self.shares is not None:
            # Seeded by the minute and its faces: the same video gives the same intervals on every run.
            seed = (max(m.minute, 0), m.faces)
            found = corrected_shares(np.concatenate(m.probabilities), self.shares, frames, places, seed=seed)
            metrics.emotion_corrected, metrics.emotion_corrected_low90, metrics.emotion_corrected_high90 = (
                {e: float(v) for e, v in zip(EMOTIONS, values, strict=True)}
                for values in (found.shares, found.low, found.high)
            )
        return metrics
