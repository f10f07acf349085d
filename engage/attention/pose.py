"""Head pose (yaw, pitch, roll in degrees) of each face from the detector's five landmarks and its box.

Sign convention (engage.types.HeadPose, the same as Pointing'04's labels):
  yaw > 0    the person turns to their own right: the nose moves toward the image's left;
  pitch > 0  the person looks up; pitch < 0 looks down;
  roll > 0   the head tilts toward the person's own right shoulder (the eye on the image's left is lower).
Angles are relative to the line of sight from the camera to the face, not to the camera's optical axis:
both methods below work on the face's own landmarks, normalised by its size, and need no image size or
focal length.

Two methods, measured by benchmarks/head_pose.py on Pointing'04 subjects held out from any fitting (|yaw| <= 60,
|pitch| <= 30; labels on a 15-degree grid, themselves off by 5-10 degrees):
  "fitted" (the default): a ridge regression on quadratic and cubic terms of landmark geometry, fitted on
    YuNet's landmarks of Pointing'04 subjects 1-10 (their images mirrored and turned +-15 degrees too) by
    `python benchmarks/head_pose.py --fit`, stored in models/head-pose.json. Its features need the face box
    as well as the landmarks: where the landmarks sit inside YuNet's box carries most of what the five
    points say about pitch. Subjects 11-15: yaw MAE 5.2, pitch MAE 11.7 degrees (leave-one-subject-out over
    all 15: 6.2 and 12.6).
  "pnp": cv2.solvePnP (SOLVEPNP_SQPNP) against a generic 3-D five-point face: yaw MAE 6.2, pitch MAE 16.4 (a
    constant 0 scores 18.0): five points with only the nose well off the face's plane leave pitch poorly
    determined. "fitted" falls back to it for faces whose box the frame's border cut (box_is_cut).
Roll is the eye line's angle in both. YuNet's landmarks follow a head's roll only part of the way (a Pointing'04
face turned 30 degrees in the image reads as ~20, the astronaut photo's as ~4), so roll is underestimated, and
yaw and pitch of a tilted head are less accurate (turned 15 degrees: yaw MAE 6.5-7.6, pitch 15.4-15.9).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engage.errors import EngageError
from engage.paths import MODELS_DIR
from engage.types import Box, HeadPose

METHODS: tuple[str, ...] = ("fitted", "pnp")
DEFAULT_METHOD = "fitted"
MODEL_PATH = MODELS_DIR / "head-pose.json"
MODEL_FORMAT = 1

# The generic face for "pnp", in units of the eye-to-mouth distance, in camera axes for a face looking into the
# camera (x to the image's right, y down, z away from the camera, so the nose has the most negative z). The
# landmark order is YuNet's (engage.types.Box). x and y are YuNet's mean landmarks on frontal Pointing'04 faces
# of subjects 1-10, made symmetric; the depths (nose tip 0.6 in front of the eyes, mouth corners 0.1) were among
# the lowest yaw errors on those subjects in a grid of 0.3-0.7 and 0-0.3.
FACE_MODEL_3D = np.array(
    [
        [-0.51, 0.0, 0.0],  # eye on the image's left (the person's right eye)
        [0.51, 0.0, 0.0],  # eye on the image's right
        [0.0, 0.57, -0.6],  # nose tip
        [-0.45, 1.0, -0.1],  # mouth corner on the image's left
        [0.45, 1.0, -0.1],  # mouth corner on the image's right
    ]
)
# Weak perspective: the normalised face (RMS radius 1) is seen by a camera of focal length 8, as if from 8 face
# radii away; a face in class is 10-20 face radii from the camera, a webcam user 3-4.
PNP_FOCAL = 8.0


def _as_arrays(boxes: Sequence[Box]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 5, 2) landmarks, (N, 4) boxes and the indices of the boxes that have landmarks."""
    index = np.array([i for i, b in enumerate(boxes) if b.landmarks is not None and len(b.landmarks) == 10], int)
    marks = np.array([boxes[i].landmarks for i in index], np.float64).reshape(-1, 5, 2)
    xywh = np.array([boxes[i].as_list() for i in index], np.float64).reshape(-1, 4)
    return marks, xywh, index


def roll_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Roll in degrees of (N, 5, 2) landmarks from the eye line, in [-90, 90] (eyes found swapped on a profile
    face still give a small roll, not one near 180)."""
    d = landmarks[:, 1] - landmarks[:, 0]
    return -np.degrees(np.arctan2(d[:, 1], np.abs(d[:, 0])))


def pose_features(landmarks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The fitted model's 19 base features of (N, 5, 2) landmarks in (N, 4) boxes (x, y, w, h).

    The landmarks are first turned about the box centre by minus the roll, so a tilted head reads more like an
    upright one. Then: the five points in box coordinates (x and y as fractions of the box's width and height
    from its centre; 10 features); the face's own geometry in units of its size s = sqrt(eye distance^2 +
    eye-to-mouth distance^2): the nose's offset from the eye midpoint (x, y), the mouth midpoint's x offset, eye
    distance, eye-to-mouth distance and mouth width over s, the box's height / width and s / box height (8); and
    the roll / 30 degrees. YuNet's landmarks follow a turned face only part of the way (a face turned 30 degrees
    in the image reads as ~20), so turning them back cannot undo a roll, and the model also learns from turned
    faces (benchmarks/head_pose.py --fit).
    """
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x, y, w, h = boxes.T
    w, h = np.maximum(w, 1e-6), np.maximum(h, 1e-6)
    centre = np.stack([x + w / 2, y + h / 2], axis=1)[:, None, :]
    roll = roll_from_landmarks(landmarks)
    angle = np.radians(roll)  # turning by +roll undoes it (image y points down)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    q = landmarks - centre
    upright = np.stack([cos * q[..., 0] - sin * q[..., 1], sin * q[..., 0] + cos * q[..., 1]], axis=-1)
    in_box = upright / np.stack([w, h], axis=1)[:, None, :]
    eyes = (upright[:, 0] + upright[:, 1]) / 2
    mouth = (upright[:, 3] + upright[:, 4]) / 2
    eye_distance = upright[:, 1, 0] - upright[:, 0, 0]
    eye_mouth = mouth[:, 1] - eyes[:, 1]
    size = np.maximum(np.hypot(eye_distance, eye_mouth), 1e-6)
    nose = upright[:, 2] - eyes
    geometry = [
        nose[:, 0] / size,
        nose[:, 1] / size,
        (mouth[:, 0] - eyes[:, 0]) / size,
        eye_distance / size,
        eye_mouth / size,
        (upright[:, 4, 0] - upright[:, 3, 0]) / size,
        h / w,
        size / h,
        roll / 30.0,
    ]
    return np.column_stack([in_box[..., 0], in_box[..., 1], *geometry])


def expand_terms(features: np.ndarray) -> np.ndarray:
    """The features, every product of two of them (squares included) and their cubes: K -> 2K + K(K+1)/2."""
    rows, cols = np.triu_indices(features.shape[1])
    return np.concatenate([features, features[:, rows] * features[:, cols], features**3], axis=1)


@dataclass(frozen=True)
class PoseModel:
    """A ridge regression from expand_terms(pose_features(...)), standardised, to yaw and pitch in degrees."""

    mean: np.ndarray  # per term, for standardising
    scale: np.ndarray
    yaw: np.ndarray  # weights per standardised term, then the intercept
    pitch: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)  # how it was fitted: data, subjects, ridge, counts

    @classmethod
    def fit(
        cls,
        features: np.ndarray,
        yaw: np.ndarray,
        pitch: np.ndarray,
        ridge: float,
        weights: np.ndarray | None = None,
        **info: Any,
    ) -> PoseModel:
        """Fit on base features (pose_features) of N faces, their labelled yaw and pitch and optional weights."""
        terms = expand_terms(np.asarray(features, np.float64))
        w = np.ones(len(terms)) if weights is None else np.asarray(weights, np.float64)
        mean = np.average(terms, axis=0, weights=w)
        scale = np.sqrt(np.average((terms - mean) ** 2, axis=0, weights=w)) + 1e-9
        design = np.column_stack([(terms - mean) / scale, np.ones(len(terms))])
        penalty = ridge * w.mean() * np.eye(design.shape[1])  # the same shrinkage whatever the weights' scale
        penalty[-1, -1] = 0.0  # the intercept is not shrunk
        gram = (design * w[:, None]).T @ design + penalty
        solved = np.linalg.solve(gram, (design * w[:, None]).T @ np.column_stack([yaw, pitch]))
        return cls(mean, scale, solved[:, 0], solved[:, 1], {"ridge": ridge, **info})

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(yaw, pitch) in degrees, each (N,), clipped to [-90, 90]."""
        standard = (expand_terms(np.asarray(features, np.float64)) - self.mean) / self.scale
        yaw = standard @ self.yaw[:-1] + self.yaw[-1]
        pitch = standard @ self.pitch[:-1] + self.pitch[-1]
        return np.clip(yaw, -90.0, 90.0), np.clip(pitch, -90.0, 90.0)

    def save(self, path: Path) -> None:
        document = {
            "format": MODEL_FORMAT,
            "what": "head pose (yaw, pitch in degrees) from YuNet's five landmarks and box; engage.attention.pose",
            **self.info,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "yaw_weights": self.yaw.tolist(),
            "pitch_weights": self.pitch.tolist(),
        }
        # One key per line, each array on its line: readable, and diffs show which part changed.
        lines = ",\n".join(f" {json.dumps(key)}: {json.dumps(value)}" for key, value in document.items())
        path.write_text("{\n" + lines + "\n}\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> PoseModel:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EngageError(f"cannot read the head-pose model {path}: {exc}") from None
        if document.get("format") != MODEL_FORMAT:
            raise EngageError(f"{path} is not a format-{MODEL_FORMAT} head-pose model")
        arrays = {key: np.asarray(document.pop(key), np.float64) for key in ("mean", "scale")}
        yaw, pitch = (np.asarray(document.pop(k), np.float64) for k in ("yaw_weights", "pitch_weights"))
        if not len(arrays["mean"]) == len(arrays["scale"]) == len(yaw) - 1 == len(pitch) - 1:
            raise EngageError(f"{path}: the head-pose model's arrays disagree in length")
        return cls(arrays["mean"], arrays["scale"], yaw, pitch, document)


@functools.cache
def default_model() -> PoseModel:
    """The shipped model (models/head-pose.json), read once."""
    return PoseModel.load(MODEL_PATH)


def pnp_angles(landmarks: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees of (N, 5, 2) landmarks by SQPnP against FACE_MODEL_3D.

    Both point sets are centred and scaled to an RMS radius of 1, so the result does not depend on the image's
    size or the camera's focal length (weak perspective, PNP_FOCAL). Roll is the eye line's.
    """
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    model = FACE_MODEL_3D - FACE_MODEL_3D.mean(axis=0)
    model = model / np.sqrt((model[:, :2] ** 2).sum(axis=1).mean())
    camera = np.diag([PNP_FOCAL, PNP_FOCAL, 1.0])
    out = np.zeros((len(landmarks), 3))
    out[:, 2] = roll_from_landmarks(landmarks)
    for i, points in enumerate(landmarks):
        centred = points - points.mean(axis=0)
        radius = math.sqrt(float((centred**2).sum(axis=1).mean())) or 1.0
        ok, rvec, _tvec = cv2.solvePnP(model, centred / radius, camera, None, flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            out[i, :2] = np.nan
            continue
        r = cv2.Rodrigues(rvec)[0]
        # r = Ry(yaw) @ Rx(-pitch) @ Rz(-roll) in camera axes (y down): the nose, (0, 0, -1) in the model, points
        # to (-sin yaw cos pitch, -sin pitch, -cos yaw cos pitch), i.e. image-left for yaw > 0, up for pitch > 0.
        out[i, 0] = math.degrees(math.atan2(r[0, 2], r[2, 2]))
        out[i, 1] = math.degrees(math.asin(max(-1.0, min(1.0, r[1, 2]))))
    return out


def box_is_cut(landmarks: np.ndarray, boxes: np.ndarray, frame_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """(N,) bool: the box was cut by the frame's border (the detector clips boxes to the frame), so where the
    landmarks sit in it says nothing about the pose. Seen as a box on the frame's top or left edge (or right or
    bottom, given the frame's shape), or a landmark outside the box."""
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    x, y, w, h = np.asarray(boxes, np.float64).reshape(-1, 4).T
    cut = (x <= 0) | (y <= 0)
    if frame_shape is not None:
        cut |= (x + w >= frame_shape[1]) | (y + h >= frame_shape[0])
    outside = (landmarks[..., 0] < x[:, None]) | (landmarks[..., 0] > (x + w)[:, None])
    outside |= (landmarks[..., 1] < y[:, None]) | (landmarks[..., 1] > (y + h)[:, None])
    return cut | outside.any(axis=1)


def pose_angles(
    landmarks: np.ndarray,
    boxes: np.ndarray,
    method: str = DEFAULT_METHOD,
    frame_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees for (N, 10) or (N, 5, 2) landmarks and (N, 4) boxes (x, y, w, h).

    "fitted" falls back to "pnp" for faces whose box was cut by the frame's border (box_is_cut).
    """
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if method == "pnp":
        return pnp_angles(landmarks)
    if method != "fitted":
        raise EngageError(f"unknown head-pose method {method!r}; valid: {', '.join(METHODS)}")
    out = np.zeros((len(landmarks), 3))
    if len(landmarks) == 0:
        return out
    out[:, 0], out[:, 1] = default_model().predict(pose_features(landmarks, boxes))
    out[:, 2] = roll_from_landmarks(landmarks)
    cut = box_is_cut(landmarks, boxes, frame_shape)
    if cut.any():
        out[cut] = pnp_angles(landmarks[cut])
    return out


def estimate_poses(
    boxes: Sequence[Box], method: str = DEFAULT_METHOD, frame_shape: tuple[int, ...] | None = None
) -> list[HeadPose | None]:
    """One HeadPose per box, in one vectorised pass; None for a box without landmarks (Haar).

    `frame_shape` (the frame's image.shape) lets "fitted" see boxes cut by the right or bottom border too.
    """
    marks, xywh, index = _as_arrays(boxes)
    poses: list[HeadPose | None] = [None] * len(boxes)
    angles = pose_angles(marks, xywh, method, frame_shape)
    for i, (yaw, pitch, roll) in zip(index.tolist(), angles.tolist(), strict=True):
        if not (math.isnan(yaw) or math.isnan(pitch)):
            poses[i] = HeadPose(yaw, pitch, roll)
    return poses


def estimate_pose(
    box: Box, method: str = DEFAULT_METHOD, frame_shape: tuple[int, ...] | None = None
) -> HeadPose | None:
    """The head pose of one face (its landmarks and box), or None where the detector gave no landmarks."""
    return estimate_poses([box], method, frame_shape)[0]
