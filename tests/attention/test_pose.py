"""Head pose: SQPnP recovers the angles of landmarks projected from its own 3-D face, the fitted model's fit /
save / load round trip, boxes without landmarks or cut by the border, and the sign convention on real
Pointing'04 faces (subjects the shipped model was not fitted on)."""

from __future__ import annotations

import csv
import math

import cv2
import numpy as np
import pytest

from engage.attention.pose import (
    FACE_MODEL_3D,
    MODEL_PATH,
    PNP_FOCAL,
    PoseModel,
    box_is_cut,
    default_model,
    estimate_pose,
    estimate_poses,
    pnp_angles,
    pose_angles,
    pose_features,
    roll_from_landmarks,
)
from engage.paths import shared_data_dir
from engage.types import Box, HeadPose
from engage.vision.detection import make_detector

POINTING04 = shared_data_dir() / "headpose" / "pointing04"


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Ry(yaw) @ Rx(-pitch) @ Rz(-roll) in camera axes (x right, y down, z away): HeadPose's convention."""
    y, p, r = np.radians([yaw, -pitch, -roll])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def project(yaw: float, pitch: float, roll: float = 0.0, scale: float = 60.0, at=(320.0, 240.0)) -> np.ndarray:
    """(5, 2) pixel landmarks of FACE_MODEL_3D turned by the angles, seen as pnp_angles assumes (weak perspective)."""
    model = FACE_MODEL_3D - FACE_MODEL_3D.mean(axis=0)
    model = model / np.sqrt((model[:, :2] ** 2).sum(axis=1).mean())
    points = model @ rotation(yaw, pitch, roll).T + [0.0, 0.0, PNP_FOCAL]
    return points[:, :2] / points[:, 2:] * PNP_FOCAL * scale + at


def box_around(points: np.ndarray) -> Box:
    x0, y0 = points.min(axis=0) - 20
    x1, y1 = points.max(axis=0) + 20
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0), 0.9, tuple(float(v) for v in points.ravel()))


@pytest.mark.parametrize("yaw", [-60, -35, -10, 0, 20, 45])
@pytest.mark.parametrize("pitch", [-30, -12, 0, 17, 30])
def test_pnp_recovers_the_angles_of_its_own_face(yaw: float, pitch: float) -> None:
    points = project(yaw, pitch, scale=37.0, at=(811.0, 95.0))  # any size and place in the image
    got_yaw, got_pitch, _ = pnp_angles(points[None])[0]
    assert got_yaw == pytest.approx(yaw, abs=0.5) and got_pitch == pytest.approx(pitch, abs=0.5)


def test_projection_follows_the_documented_convention() -> None:
    """The test's own projection: yaw > 0 moves the nose to the image's left, pitch > 0 moves it up."""
    eyes_mid = lambda p: (p[0] + p[1]) / 2  # noqa: E731
    turned, raised, front = project(30, 0), project(0, 30), project(0, 0)
    assert turned[2, 0] - eyes_mid(turned)[0] < front[2, 0] - eyes_mid(front)[0]
    assert raised[2, 1] - eyes_mid(raised)[1] < front[2, 1] - eyes_mid(front)[1]


@pytest.mark.parametrize("roll", [-40, -15, 0, 10, 35])
def test_roll_is_the_eye_lines_angle(roll: float) -> None:
    points = project(0, 0, roll)
    assert roll_from_landmarks(points[None])[0] == pytest.approx(roll, abs=0.01)
    assert pnp_angles(points[None])[0, :2] == pytest.approx([0, 0], abs=0.5)
    if roll > 0:  # the head tilts toward the person's right shoulder: the eye on the image's left is lower
        assert points[0, 1] > points[1, 1]


def test_pnp_does_not_depend_on_the_face_size_or_place() -> None:
    small = pnp_angles(project(25, -15, 5, scale=8.0, at=(10.0, 10.0))[None])
    large = pnp_angles(project(25, -15, 5, scale=400.0, at=(2000.0, 1500.0))[None])
    assert small == pytest.approx(large, abs=1e-6)


def test_pose_model_fit_predict_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 19))
    yaw = 20 * features[:, 0] - 5 * features[:, 3] * features[:, 4] + 3
    pitch = -8 * features[:, 11] + 2 * features[:, 2] ** 2
    model = PoseModel.fit(features, yaw, pitch, ridge=1e-6, weights=rng.uniform(0.5, 2, 400), subjects=[1, 2])
    got_yaw, got_pitch = model.predict(features)
    assert got_yaw == pytest.approx(yaw, abs=0.05) and got_pitch == pytest.approx(pitch, abs=0.05)
    model.save(tmp_path / "pose.json")
    loaded = PoseModel.load(tmp_path / "pose.json")
    assert loaded.info["subjects"] == [1, 2]
    assert np.array_equal(loaded.predict(features)[0], got_yaw)


def test_the_shipped_model_says_how_it_was_made() -> None:
    info = default_model().info
    assert MODEL_PATH.is_file()
    assert info["training_subjects"] == list(range(1, 11)) and info["command"] == "python benchmarks/head_pose.py --fit"
    assert len(pose_features(np.zeros((1, 5, 2)) + np.arange(10).reshape(1, 5, 2), np.array([[0, 0, 20, 20]]))[0]) == 19


def test_boxes_without_landmarks_get_no_pose() -> None:
    face = box_around(project(10, 0))
    poses = estimate_poses([Box(0, 0, 40, 40), face, Box(5, 5, 30, 30)])
    assert poses[0] is None and poses[2] is None and isinstance(poses[1], HeadPose)
    assert estimate_poses([]) == [] and estimate_pose(Box(1, 1, 9, 9)) is None
    assert pose_angles(np.zeros((0, 10)), np.zeros((0, 4))).shape == (0, 3)


def test_a_box_cut_by_the_border_falls_back_to_pnp() -> None:
    points = project(20, 0, at=(30.0, 300.0))
    whole = box_around(points)
    cut = Box(0, whole.y, whole.x + whole.w, whole.h, 0.9, whole.landmarks)  # the detector clipped it at x = 0
    assert box_is_cut(points[None], np.array([cut.as_list()])).tolist() == [True]
    assert estimate_pose(cut) == estimate_pose(cut, "pnp")
    at_right = box_around(project(20, 0, at=(600.0, 300.0)))
    shape = (480, at_right.x + at_right.w)
    assert estimate_pose(at_right, frame_shape=shape) == estimate_pose(at_right, "pnp")
    assert estimate_pose(at_right) != estimate_pose(at_right, "pnp")


def test_unknown_method_is_refused() -> None:
    from engage.errors import EngageError

    with pytest.raises(EngageError, match="fitted, pnp"):
        estimate_poses([box_around(project(0, 0))], method="dlib")


def pointing04_faces(subjects: range, poses: list[tuple[int, int]]) -> dict[tuple[int, int], list[Box]]:
    """YuNet's faces in Pointing'04 images of `subjects` at (yaw, pitch) labels, keyed by the label."""
    if not (POINTING04 / "labels.csv").is_file():
        pytest.skip(f"Pointing'04 not found at {POINTING04} (set ENGAGE_DATA to the folder holding headpose/)")
    detector = make_detector("yunet")
    found: dict[tuple[int, int], list[Box]] = {p: [] for p in poses}
    with open(POINTING04 / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            label = (round(float(row["yaw_deg"])), round(float(row["pitch_deg"])))
            if int(row["subject"]) in subjects and label in found:
                boxes = detector.detect(cv2.imread(str(POINTING04 / "images" / row["file"])))
                found[label] += boxes[:1]
    return found


def test_sign_convention_on_real_faces() -> None:
    """Held-out subjects 11-15, both series: a face turned to its own right has yaw > 0, one looking down pitch < 0."""
    faces = pointing04_faces(range(11, 16), [(-45, 0), (45, 0), (0, -30), (0, 30), (0, 0)])
    assert all(len(boxes) == 10 for boxes in faces.values())
    for method in ("fitted", "pnp"):
        mean = {label: np.mean([[p.yaw, p.pitch] for p in estimate_poses(b, method)], 0) for label, b in faces.items()}
        assert mean[(45, 0)][0] > 25 and mean[(-45, 0)][0] < -25, (method, mean)
        assert all(p.yaw > 0 for p in estimate_poses(faces[(45, 0)], method))
        assert all(p.yaw < 0 for p in estimate_poses(faces[(-45, 0)], method))
        assert mean[(0, -30)][1] < mean[(0, 30)][1] - 5, (method, mean)
    fitted = {label: np.mean([p.pitch for p in estimate_poses(b)]) for label, b in faces.items()}
    assert fitted[(0, -30)] < -10 and fitted[(0, 30)] > 10 and abs(fitted[(0, 0)]) < 8, fitted
