"""A whole photo at a glance: how many faces show each emotion, and their mean engagement.

The same figures as a minute of a lecture (engage.minutes): a face counts for the emotion with its highest
probability, and its engagement index is sum_k p_k * w_k / max(w) with the configured weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engage.config import EngagementConfig
from engage.emotions import EMOTIONS
from engage.minutes.aggregate import engagement_index
from engage.vision.photos import FaceResult


@dataclass(frozen=True)
class PhotoSummary:
    faces: int
    counts: dict[str, int] = field(default_factory=dict)  # every emotion, in EMOTIONS order: faces it tops
    engagement: float | None = None  # mean engagement index of the faces (None without faces or weights)
    high: float | None = None  # share of faces above engagement.high_band
    low: float | None = None  # share of faces below engagement.low_band

    @property
    def nominal(self) -> float | None:
        return None if self.high is None or self.low is None else max(0.0, 1.0 - self.high - self.low)

    def ranked(self) -> list[tuple[str, int]]:
        """(emotion, faces) with at least one face, most faces first (ties in EMOTIONS order)."""
        return sorted(((e, n) for e, n in self.counts.items() if n), key=lambda item: -item[1])


def summarise_faces(faces: Sequence[FaceResult], engagement: EngagementConfig | None = None) -> PhotoSummary:
    """Faces per strongest emotion and, given the engagement settings, the faces' mean engagement and bands."""
    counts = dict.fromkeys(EMOTIONS, 0)
    for face in faces:
        if face.label in counts:
            counts[face.label] += 1
    if not faces or engagement is None:
        return PhotoSummary(len(faces), counts)
    p = np.array([[face.emotions.get(e, 0.0) for e in EMOTIONS] for face in faces], dtype=np.float64)
    e = engagement_index(p, engagement.weights)
    return PhotoSummary(
        len(faces),
        counts,
        engagement=float(e.mean()),
        high=float((e > engagement.high_band).mean()),
        low=float((e < engagement.low_band).mean()),
    )
