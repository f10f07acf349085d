"""The attention stage: between the analyzer and the minute aggregator, it tracks faces and reads their states.

In: a sample's FrameFaces with each face's head pose (engage.vision.analyzer). Out: the same faces with
- ``tracks``: anonymous track ids (engage.attention.tracking);
- ``poses``: the median of the face's last ``smoothing_samples`` poses along its track, and
  ``probabilities``: the mean of its last ``smoothing_samples`` emotion probabilities;
- ``states``: facing / down / away against the class's reference direction, and ``readable``: frontal enough
  to the camera for the expression model (engage.attention.states).

The reference direction is where the class looks: the camera is rarely where the board is. By default it is
the median head direction of every face sample in the last ``window_s`` seconds, with its pitch held within
``pitch_limit_deg`` of the camera's level so that a class writing for minutes does not make "down" the
reference. Until ``min_reference_samples`` face samples have been seen it is the camera's direction. A fixed
direction can be configured instead (attention.reference_yaw / reference_pitch).
Everything here lives in memory for the session and is dropped with it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

import numpy as np

from engage.attention.states import AttentionThresholds, attention_states, readable_mask
from engage.attention.tracking import UNTRACKED, FaceTracker
from engage.config import Config
from engage.types import FrameFaces, HeadPose


@dataclass
class _Track:
    poses: deque[tuple[float, float, float]]
    probabilities: deque[np.ndarray]
    last_seen: float = 0.0


@dataclass(frozen=True)
class ReferenceSettings:
    """How the class's reference direction is found (see the module docstring)."""

    fixed: tuple[float, float] | None = None  # (yaw, pitch) in degrees; None: follow the class
    window_s: float = 300.0
    pitch_limit_deg: float = 15.0
    min_reference_samples: int = 10


class _ReferenceWindow:
    """The face samples of the last ``window_s`` seconds, one array of (yaw, pitch) per sample.

    The median is recomputed every REFRESH_S of media time: a class's direction changes over minutes, and a
    median over thousands of face samples on every frame would cost more than the tracking.
    """

    REFRESH_S = 5.0

    def __init__(self, settings: ReferenceSettings) -> None:
        self.settings = settings
        self.samples: deque[tuple[float, np.ndarray]] = deque()  # (timestamp, (faces, 2) yaw and pitch)
        self.count = 0
        self._direction = (0.0, 0.0)
        self._computed_at: float | None = None

    def add(self, timestamp: float, poses: list[HeadPose]) -> None:
        if poses:
            self.samples.append((timestamp, np.array([(p.yaw, p.pitch) for p in poses])))
            self.count += len(poses)
        while self.samples and self.samples[0][0] < timestamp - self.settings.window_s:
            self.count -= len(self.samples.popleft()[1])
        if self.count < self.settings.min_reference_samples:
            self._direction, self._computed_at = (0.0, 0.0), None
        elif self._computed_at is None or not 0 <= timestamp - self._computed_at < self.REFRESH_S:
            yaw, pitch = np.median(np.concatenate([angles for _, angles in self.samples]), axis=0)
            limit = self.settings.pitch_limit_deg
            self._direction = (float(yaw), float(np.clip(pitch, -limit, limit)))
            self._computed_at = timestamp

    def direction(self) -> tuple[float, float]:
        return self.settings.fixed if self.settings.fixed is not None else self._direction


class AttentionStage:
    """Per-session face tracks and states: ``update`` one sample after another, in time order."""

    def __init__(
        self,
        sample_fps: float,
        thresholds: AttentionThresholds | None = None,
        *,
        reference: ReferenceSettings | None = None,
        smoothing_samples: int = 5,
        lost_s: float = 3.0,
        track: bool = True,
    ) -> None:
        if smoothing_samples < 1:
            raise ValueError(f"smoothing_samples must be at least 1, not {smoothing_samples}")
        self.thresholds = thresholds or AttentionThresholds()
        self.smoothing_samples = smoothing_samples
        self.lost_s = max(lost_s, 1.0 / sample_fps)
        # A still photo has nothing to track: its faces stay UNTRACKED and unsmoothed.
        self._tracker = FaceTracker(sample_fps, lost_s) if track else None
        self._tracks: dict[int, _Track] = {}
        self._reference = _ReferenceWindow(reference or ReferenceSettings())

    @classmethod
    def from_config(cls, config: Config, track: bool = True) -> AttentionStage:
        """A fresh stage (no tracks yet) for one session, or (``track`` False) one still photo, under ``config``."""
        a = config.attention
        fixed = None if a.reference_yaw is None or a.reference_pitch is None else (a.reference_yaw, a.reference_pitch)
        return cls(
            config.sample_fps,
            AttentionThresholds(
                facing_cone_deg=a.facing_cone_deg,
                down_pitch_deg=a.down_pitch_deg,
                down_max_yaw_deg=a.down_max_yaw_deg,
                readable_yaw_deg=a.readable_yaw_deg,
                readable_pitch_down_deg=a.readable_pitch_down_deg,
                readable_pitch_up_deg=a.readable_pitch_up_deg,
            ),
            reference=ReferenceSettings(fixed, a.reference_window_s, a.reference_pitch_limit_deg),
            smoothing_samples=a.smoothing_samples,
            lost_s=a.lost_s,
            track=track,
        )

    @property
    def reference(self) -> tuple[float, float]:
        """The class's reference direction (yaw, pitch) in degrees, as it stands now."""
        return self._reference.direction()

    def update(self, faces: FrameFaces) -> FrameFaces:
        """The sample's faces with tracks, smoothed poses and probabilities, states and readability."""
        if self._tracker is not None:
            ids = self._tracker.update(faces.boxes)
        else:
            ids = np.full(len(faces.boxes), UNTRACKED, np.int64)
        raw_poses = faces.poses if faces.poses is not None else [None] * len(faces.boxes)
        poses: list[HeadPose | None] = []
        probabilities = np.array(faces.probabilities, dtype=np.float32, copy=True)
        for i, (track_id, pose) in enumerate(zip(ids.tolist(), raw_poses, strict=True)):
            if track_id < 0:
                poses.append(pose)
                continue
            track = self._tracks.get(track_id)
            if track is None:
                track = self._tracks[track_id] = _Track(
                    deque(maxlen=self.smoothing_samples), deque(maxlen=self.smoothing_samples)
                )
            track.last_seen = faces.timestamp
            if pose is not None:
                track.poses.append((pose.yaw, pose.pitch, pose.roll))
            track.probabilities.append(probabilities[i].copy())
            probabilities[i] = np.mean(track.probabilities, axis=0)
            poses.append(HeadPose(*(float(v) for v in np.median(track.poses, axis=0))) if track.poses else None)
        self._forget_lost(faces.timestamp)
        known = [p for p in poses if p is not None]
        self._reference.add(faces.timestamp, known)
        reference = self._reference.direction()
        states: list[str | None] = [None] * len(poses)
        # A face without a pose (a detector without landmarks) cannot be judged, so its expression is read.
        readable = np.ones(len(poses), dtype=bool)
        if known:
            at = [i for i, p in enumerate(poses) if p is not None]
            yaw, pitch = np.array([p.yaw for p in known]), np.array([p.pitch for p in known])
            for i, state in zip(at, attention_states(yaw, pitch, reference, self.thresholds).tolist(), strict=True):
                states[i] = state
            readable[at] = readable_mask(yaw, pitch, self.thresholds)
        return dataclasses.replace(
            faces, probabilities=probabilities, poses=poses, tracks=ids, states=states, readable=readable
        )

    def _forget_lost(self, now: float) -> None:
        # Tracks the tracker has dropped: memory stays flat however long the session runs.
        for track_id in [t for t, track in self._tracks.items() if now - track.last_seen > 2 * self.lost_s]:
            del self._tracks[track_id]
