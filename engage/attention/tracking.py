"""Anonymous face tracks: the same face linked from sample to sample, in memory, with ByteTrack.

A track id says "the face at about this place in the previous samples", nothing about who it is: no face
features are computed, ids start at 1 for every session and are dropped with it. Tracks let a face's state
use its recent samples, count the distinct people of a minute, and keep the minute's uncertainty from
counting one student seen in 60 samples as 60 independent readings (engage.minutes.shares).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from engage.types import Box

UNTRACKED = -1  # a face the tracker has not confirmed yet (first seen in this sample, after the first sample)


def _byte_track(sample_fps: float, lost_samples: int):  # -> supervision.ByteTrack
    import supervision as sv  # sessions only (still photos are not tracked): ~0.6 s of CPU to import

    with warnings.catch_warnings():
        # supervision 0.30 marks ByteTrack deprecated in favour of the `trackers` package (see pyproject.toml).
        warnings.simplefilter("ignore")
        # ByteTrack counts its lost-track buffer in frames at 30 fps: scale so it is `lost_samples` samples.
        return sv.ByteTrack(
            track_activation_threshold=0.25,
            lost_track_buffer=math.ceil(lost_samples * 30.0 / sample_fps),
            minimum_matching_threshold=0.8,
            frame_rate=sample_fps,
        )


class FaceTracker:
    """Track ids for each sample's boxes (``update``), one tracker per session.

    A track survives ``lost_s`` seconds without a detection (at least one sample), so a face missed by the
    detector once keeps its id. A face first seen after the first sample is confirmed by its second sample;
    until then it is UNTRACKED.
    """

    def __init__(self, sample_fps: float, lost_s: float = 3.0) -> None:
        if not sample_fps > 0:
            raise ValueError(f"sample_fps must be positive, not {sample_fps}")
        self._tracker = _byte_track(sample_fps, max(1, math.ceil(lost_s * sample_fps)))

    def update(self, boxes: Sequence[Box]) -> np.ndarray:
        """The track id of every box (int64, UNTRACKED where none yet), in the order given."""
        import supervision as sv

        ids = np.full(len(boxes), UNTRACKED, np.int64)
        if boxes:
            xyxy = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b in boxes], dtype=np.float32)
            scores = np.array([b.score for b in boxes], dtype=np.float32)
            detections = sv.Detections(xyxy=xyxy, confidence=scores, data={"index": np.arange(len(boxes))})
        else:
            detections = sv.Detections.empty()
        found = self._tracker.update_with_detections(detections)  # a sample without faces ages the tracks
        if len(found):
            ids[np.asarray(found.data["index"], dtype=np.int64)] = np.asarray(found.tracker_id, dtype=np.int64)
        return ids
