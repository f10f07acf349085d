"""Head pose and attention states on Pointing'04 (shared data, not shipped), with YuNet's landmarks.

    python benchmarks/head_pose.py [--data DIR] [--fit] [--cache FILE] [--no-expressions]

DIR (or $ENGAGE_DATA) holds headpose/pointing04/ (images/, labels.csv). Every image, and its mirror image (yaw
negated), goes through the product's detector (make_detector("yunet") with its defaults); the detection whose
box centre lies inside the labelled face box (highest score first) is that image's face.

Fixed split by subject: 1-10 fit, 11-15 test. `--fit` fits the "fitted" method on subjects 1-10 (their images in
|yaw| <= 60 and |pitch| <= 30, mirrored and turned +-15 degrees too; see fit_model) and writes
models/head-pose.json; without it the shipped model is measured.

Reported: detection rate per yaw; yaw and pitch error of both methods on the test subjects in |yaw| <= 60,
|pitch| <= 30 (the target range), the same recipe in leave-one-subject-out cross-validation over all 15, and on
images turned in the image plane (roll); facing/down/away and readable accuracy against the states of the
labelled angles (reference (0, 0), the same thresholds); the expression model's agreement with each subject's
frontal image per pose (what `readable` is chosen from); and the cost of pose + state per face.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import sys
import time
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)
import cv2
import numpy as np

from engage.attention.pose import (
    MODEL_PATH,
    PoseModel,
    estimate_pose,
    estimate_poses,
    pnp_angles,
    pose_features,
    roll_from_landmarks,
)
from engage.attention.states import (
    DEFAULT_THRESHOLDS,
    AttentionThresholds,
    attention_state,
    attention_states,
    is_readable,
    readable_mask,
)
from engage.errors import EngageError
from engage.paths import shared_data_dir
from engage.types import Box
from engage.vision.detection import make_detector

FIT_SUBJECTS = tuple(range(1, 11))
TEST_SUBJECTS = tuple(range(11, 16))
# The fitted recipe, chosen by leave-one-subject-out pitch MAE (upright / turned +-15 degrees): upright images only
# 12.3 / ~20; with turned copies weighted like the upright ones 14.4 / 13.8; upright weighted 3x 13.5 / 14.2, 10x
# 12.6 / 15.8. 10x keeps most of the upright accuracy and a third of the gain on tilted heads. Ridge 1-10 hardly
# matters.
RIDGE = 10.0
TURNS = (-15, 15)  # in-plane turns (roll) of the images the fitted method also learns from
UPRIGHT_WEIGHT = 10.0  # the untouched images count this much more than each turned copy
TARGET_YAW, TARGET_PITCH = 60.0, 30.0  # the target range: |yaw| <= 60, |pitch| <= 30


def load_labels(folder: Path) -> dict[str, np.ndarray]:
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {"file": np.array([r["file"] for r in rows])}
    for key in ("yaw_deg", "pitch_deg", "face_cx", "face_cy", "face_w", "face_h", "img_w"):
        columns[key] = np.array([float(r[key]) for r in rows])
    columns["subject"] = np.array([int(r["subject"]) for r in rows])
    return columns


def detect_all(folder: Path, labels: dict[str, np.ndarray], mirror: bool, angle: float = 0.0) -> np.ndarray:
    """(N, 15) per image: the matched face's box (4), score, landmarks (10); NaN where none was found.

    `mirror` flips each image left-right; `angle` (degrees, counter-clockwise as displayed) turns it about the
    labelled face centre, so the head's roll becomes `angle` while yaw and pitch stay.
    """
    detector = make_detector("yunet")
    out = np.full((len(labels["file"]), 15), np.nan)
    for i, name in enumerate(labels["file"]):
        image = cv2.imread(str(folder / "images" / name))
        cx, cy = labels["face_cx"][i], labels["face_cy"][i]
        if mirror:
            image, cx = np.ascontiguousarray(image[:, ::-1]), image.shape[1] - cx
        if angle:
            turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
            image = cv2.warpAffine(image, turn, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
        half_w, half_h = labels["face_w"][i] / 2, labels["face_h"][i] / 2
        for box in detector.detect(image):  # highest score first
            if abs(box.x + box.w / 2 - cx) < half_w and abs(box.y + box.h / 2 - cy) < half_h:
                out[i] = [*box.as_list(), box.score, *box.landmarks]
                break
    return out


def detections(folder: Path, labels: dict[str, np.ndarray], cache: Path | None) -> dict[str, np.ndarray]:
    """Detections keyed "plain+0" and "mirror+0" (every image), "plain-15", "plain+15", "mirror-15", "mirror+15"
    (images in the target range turned by that angle: the fitted method learns from them and is tested on the
    held-out subjects' ones) and "plain-30", "plain+30" (held-out subjects in the target range)."""
    if cache is not None and cache.is_file():
        print(f"detections read from {cache}")
        return dict(np.load(cache))
    start = time.perf_counter()
    found = {"plain+0": detect_all(folder, labels, False), "mirror+0": detect_all(folder, labels, True)}
    target = in_range(labels["yaw_deg"], labels["pitch_deg"])
    held_out = target & np.isin(labels["subject"], TEST_SUBJECTS)
    for side, angle, rows in [(s, a, target) for s in ("plain", "mirror") for a in TURNS] + [
        ("plain", a, held_out) for a in (-30, 30)
    ]:
        found[f"{side}{angle:+d}"] = np.full_like(found["plain+0"], np.nan)
        some = {key: value[rows] for key, value in labels.items()}
        found[f"{side}{angle:+d}"][rows] = detect_all(folder, some, side == "mirror", angle)
    faces = sum(int((~np.isnan(v[:, 0])).sum()) for v in found.values())
    print(f"found {faces} faces in {time.perf_counter() - start:.0f} s")
    if cache is not None:
        np.savez(cache, **found)
    return found


def in_range(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    return (np.abs(yaw) <= TARGET_YAW) & (np.abs(pitch) <= TARGET_PITCH)


def fit_model(found: dict[str, np.ndarray], labels: dict[str, np.ndarray], subjects: tuple[int, ...]) -> PoseModel:
    """The "fitted" recipe on `subjects`' faces in the target range: each image and its mirror image (weight
    UPRIGHT_WEIGHT), and both turned by each of TURNS (weight 1)."""
    yaw, pitch = labels["yaw_deg"], labels["pitch_deg"]
    chosen = np.isin(labels["subject"], subjects) & in_range(yaw, pitch)
    parts = []
    for side in ("plain", "mirror"):
        for angle in (0, *TURNS):
            rows = found[f"{side}{angle:+d}"]
            keep = chosen & ~np.isnan(rows[:, 0])
            sign = -1.0 if side == "mirror" else 1.0
            weight = np.full(keep.sum(), UPRIGHT_WEIGHT if angle == 0 else 1.0)
            parts.append((pose_features(rows[keep, 5:], rows[keep, :4]), sign * yaw[keep], pitch[keep], weight))
    features, yaws, pitches, weights = (np.concatenate(p) for p in zip(*parts, strict=True))
    return PoseModel.fit(
        features,
        yaws,
        pitches,
        RIDGE,
        weights,
        training_subjects=list(subjects),
        training_faces=len(features),
        training_set=(
            f"|yaw| <= {TARGET_YAW:g}, |pitch| <= {TARGET_PITCH:g}: each image and its mirror image (weight "
            f"{UPRIGHT_WEIGHT:g}), both also turned by {' and '.join(f'{a:+d}' for a in TURNS)} degrees (weight 1)"
        ),
        data="Pointing'04 (headpose/pointing04), landmarks from make_detector('yunet') with its defaults",
        command="python benchmarks/head_pose.py --fit",
    )


def errors(predicted: np.ndarray, truth: np.ndarray) -> str:
    e = np.abs(predicted - truth)
    return f"MAE {e.mean():5.2f}  median {np.median(e):5.2f}  mean error {np.mean(predicted - truth):+5.2f}"


def report_detection(found: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    yaw = labels["yaw_deg"]
    hit = ~np.isnan(found["plain+0"][:, 0])
    print("\nDetection rate per labelled yaw (all subjects, all pitches; make_detector('yunet') defaults):")
    print("  " + "  ".join(f"{v:+4.0f}" for v in np.unique(yaw)))
    print("  " + "  ".join(f"{hit[yaw == v].mean():4.2f}" for v in np.unique(yaw)))
    target = in_range(yaw, labels["pitch_deg"])
    print(f"  overall {hit.mean():.3f} of {len(hit)}; in the target range {hit[target].mean():.3f}")


def report_pose(found: dict[str, np.ndarray], labels: dict[str, np.ndarray], model: PoseModel) -> np.ndarray:
    """Print pose errors; return the (N, 3) poses of the shipped recipe on the plain images (NaN: no face)."""
    yaw, pitch, subject = labels["yaw_deg"], labels["pitch_deg"], labels["subject"]
    plain = found["plain+0"]
    hit = ~np.isnan(plain[:, 0])
    poses = np.full((len(yaw), 3), np.nan)
    yaw_pred, pitch_pred = model.predict(pose_features(plain[hit, 5:], plain[hit, :4]))
    poses[hit, 0], poses[hit, 1] = yaw_pred, pitch_pred
    poses[hit, 2] = roll_from_landmarks(plain[hit, 5:].reshape(-1, 5, 2))
    pnp = np.full((len(yaw), 3), np.nan)
    pnp[hit] = pnp_angles(plain[hit, 5:])
    test = np.isin(subject, TEST_SUBJECTS) & in_range(yaw, pitch) & hit
    print(f"\nHeld-out subjects {TEST_SUBJECTS[0]}-{TEST_SUBJECTS[-1]}, |yaw| <= 60, |pitch| <= 30: {test.sum()} faces")
    print(
        "  (targets: yaw MAE <= 8, pitch MAE <= 12; predicting 0 everywhere gives yaw MAE "
        f"{np.abs(yaw[test]).mean():.1f}, pitch MAE {np.abs(pitch[test]).mean():.1f})"
    )
    for name, p in (("fitted", poses), ("pnp", pnp)):
        print(f"  {name:6s} yaw   {errors(p[test, 0], yaw[test])}")
        print(f"  {name:6s} pitch {errors(p[test, 1], pitch[test])}")
    mirror = found["mirror+0"]
    mtest = np.isin(subject, TEST_SUBJECTS) & in_range(yaw, pitch) & ~np.isnan(mirror[:, 0])
    my, mp = model.predict(pose_features(mirror[mtest, 5:], mirror[mtest, :4]))
    print(f"  fitted on the mirror images: yaw {errors(my, -yaw[mtest])}; pitch {errors(mp, pitch[mtest])}")
    print(
        "  fitted, yaw MAE per labelled yaw: "
        + ", ".join(f"{v:+.0f}: {np.abs(poses[test & (yaw == v), 0] - v).mean():.1f}" for v in np.unique(yaw[test]))
    )
    print(
        "  fitted, pitch MAE per labelled pitch: "
        + ", ".join(f"{v:+.0f}: {np.abs(poses[test & (pitch == v), 1] - v).mean():.1f}" for v in np.unique(pitch[test]))
    )
    print("  images turned in the image plane (the head's roll), held-out subjects:")
    for angle in (-30, -15, 15, 30):
        turned = found[f"plain{angle:+d}"]
        keep = test & ~np.isnan(turned[:, 0])
        ry, rp = model.predict(pose_features(turned[keep, 5:], turned[keep, :4]))
        pnp_turned = pnp_angles(turned[keep, 5:])
        print(
            f"    {angle:+d} deg, {keep.sum()} found: fitted yaw MAE {np.abs(ry - yaw[keep]).mean():5.2f}, pitch MAE "
            f"{np.abs(rp - pitch[keep]).mean():5.2f}; pnp yaw MAE {np.abs(pnp_turned[:, 0] - yaw[keep]).mean():5.2f}, "
            f"pitch MAE {np.abs(pnp_turned[:, 1] - pitch[keep]).mean():5.2f}; roll mean {pnp_turned[:, 2].mean():+6.2f}"
        )
    return poses


def report_cross_validation(found: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    yaw, pitch, subject = labels["yaw_deg"], labels["pitch_deg"], labels["subject"]
    keys = ("plain+0", *(f"plain{a:+d}" for a in TURNS))
    target = {k: in_range(yaw, pitch) & ~np.isnan(found[k][:, 0]) for k in keys}
    predicted = {k: np.full((len(yaw), 2), np.nan) for k in keys}
    for s in range(1, 16):
        model = fit_model(found, labels, tuple(x for x in range(1, 16) if x != s))
        for k in keys:
            keep, rows = target[k] & (subject == s), found[k]
            predicted[k][keep] = np.column_stack(model.predict(pose_features(rows[keep, 5:], rows[keep, :4])))
    plain, upright = found["plain+0"], target["plain+0"]
    pnp = pnp_angles(plain[upright, 5:])
    print(f"\nLeave-one-subject-out over all 15 subjects, |yaw| <= 60, |pitch| <= 30: {upright.sum()} faces")
    print(f"  fitted yaw   {errors(predicted['plain+0'][upright, 0], yaw[upright])}")
    print(f"  fitted pitch {errors(predicted['plain+0'][upright, 1], pitch[upright])}")
    print(f"  pnp    yaw   {errors(pnp[:, 0], yaw[upright])}   (nothing fitted per fold)")
    print(f"  pnp    pitch {errors(pnp[:, 1], pitch[upright])}")
    for k in keys[1:]:
        got, keep = predicted[k], target[k]
        print(
            f"  fitted, images turned {k[5:]} deg: yaw MAE {np.abs(got[keep, 0] - yaw[keep]).mean():.2f}, "
            f"pitch MAE {np.abs(got[keep, 1] - pitch[keep]).mean():.2f}"
        )
    per_subject = [
        np.abs(predicted["plain+0"][upright & (subject == s), 1] - pitch[upright & (subject == s)]).mean()
        for s in range(1, 16)
    ]
    print("  fitted pitch MAE per subject: " + " ".join(f"{v:.1f}" for v in per_subject))


def state_accuracy(
    poses: np.ndarray, labels: dict[str, np.ndarray], keep: np.ndarray, t: AttentionThresholds
) -> tuple[float, float]:
    yaw, pitch = labels["yaw_deg"][keep], labels["pitch_deg"][keep]
    states = attention_states(poses[keep, 0], poses[keep, 1], (0.0, 0.0), t)
    readable = readable_mask(poses[keep, 0], poses[keep, 1], t)
    return float(np.mean(states == attention_states(yaw, pitch, (0.0, 0.0), t))), float(
        np.mean(readable == readable_mask(yaw, pitch, t))
    )


def report_states(poses: np.ndarray, labels: dict[str, np.ndarray]) -> None:
    yaw, pitch, subject = labels["yaw_deg"], labels["pitch_deg"], labels["subject"]
    hit = ~np.isnan(poses[:, 0])
    test = np.isin(subject, TEST_SUBJECTS) & hit
    t = DEFAULT_THRESHOLDS
    print(f"\nStates on held-out subjects (reference (0, 0)); thresholds {t}")
    for name, keep in (
        ("all detected faces", test),
        ("|yaw| <= 60, |pitch| <= 30", test & in_range(yaw, pitch)),
        ("|pitch| <= 60 (no +-90)", test & (np.abs(pitch) <= 60)),
    ):
        states, readable = state_accuracy(poses, labels, keep, t)
        truth = attention_states(yaw[keep], pitch[keep], (0.0, 0.0), t)
        shares = ", ".join(f"{s} {np.mean(truth == s):.2f}" for s in ("facing", "down", "away"))
        print(f"  {name:28s} n={keep.sum():4d}  state accuracy {states:.3f}  readable accuracy {readable:.3f}")
        print(f"  {'':28s} labelled states: {shares}")
    truth = attention_states(yaw[test], pitch[test], (0.0, 0.0), t)
    got = attention_states(poses[test, 0], poses[test, 1], (0.0, 0.0), t)
    recall = [np.mean(got[truth == s] == s) for s in ("facing", "down", "away")]
    print(
        "  all detected faces: recall facing {:.2f}, down {:.2f}, away {:.2f}; balanced accuracy {:.3f}".format(
            *recall, np.mean(recall)
        )
    )
    print("  confusion (rows: label, columns: estimate) facing/down/away:")
    for s in ("facing", "down", "away"):
        print(f"    {s:6s} " + " ".join(f"{np.sum((truth == s) & (got == g)):4d}" for g in ("facing", "down", "away")))
    print("  state accuracy on all detected held-out faces for other thresholds (facing cone, down pitch):")
    for cone in (22.5, 25.0, 27.5):
        cells = []
        for down in (17.5, 20.0, 22.5, 25.0):
            trial = AttentionThresholds(facing_cone_deg=cone, down_pitch_deg=down)
            cells.append(f"{down:g}: {state_accuracy(poses, labels, test, trial)[0]:.3f}")
        print(f"    cone {cone:4.1f}, down " + "  ".join(cells))


def report_expressions(folder: Path, found: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    """The expression model at each pose vs on the same subject's frontal image of the same series: what
    `readable` rests on. The subjects hold one expression through a series, so a change is the pose's doing."""
    from engage.vision.classifier import EmotionClassifier
    from engage.vision.detection import crop_face

    plain = found["plain+0"]
    hit = np.flatnonzero(~np.isnan(plain[:, 0]))
    crops = []
    for i in hit:
        image = cv2.imread(str(folder / "images" / labels["file"][i]))
        crops.append(crop_face(image, Box(*(int(v) for v in plain[i, :4]))).copy())
    probabilities = np.full((len(plain), 7), np.nan)
    probabilities[hit] = EmotionClassifier().predict(crops)
    yaw, pitch = labels["yaw_deg"], labels["pitch_deg"]
    series = np.array([name[8] for name in labels["file"]])  # person<ID:2><series:1>...
    key = np.char.add(labels["subject"].astype(str), series)
    frontal = {k: i for i, k in enumerate(key) if yaw[i] == 0 and pitch[i] == 0 and i in set(hit.tolist())}
    usable = np.array([i in set(hit.tolist()) and k in frontal for i, k in enumerate(key)])
    reference = np.array([probabilities[frontal[k]] if k in frontal else np.full(7, np.nan) for k in key])
    agree = probabilities.argmax(axis=1) == reference.argmax(axis=1)
    distance = np.abs(probabilities - reference).sum(axis=1) / 2  # total variation, 0..1
    other = {k: frontal.get(k[:-1] + ("2" if k[-1] == "1" else "1")) for k in frontal}
    pairs = [(frontal[k], j) for k, j in other.items() if j is not None]
    same = np.mean([probabilities[i].argmax() == probabilities[j].argmax() for i, j in pairs])
    spread = np.mean([np.abs(probabilities[i] - probabilities[j]).sum() / 2 for i, j in pairs])
    print("\nExpression model vs the same subject's frontal image of the series (all 15 subjects, detected faces):")
    print(f"  baseline, frontal image of the other series: same top emotion {same:.2f}, distance {spread:.2f}")
    pitches = (-60, -30, -15, 0, 15, 30, 60)
    print("  same top emotion | total-variation distance; rows |yaw|, columns pitch")
    print("  |yaw| " + " ".join(f"{p:+5d}" for p in pitches) + "  | " + " ".join(f"{p:+5d}" for p in pitches))
    for a in range(0, 91, 15):
        cells, far = [], []
        for p in pitches:
            keep = usable & (np.abs(yaw) == a) & (pitch == p) & ~((yaw == 0) & (pitch == 0))
            cells.append(f"{agree[keep].mean():5.2f}" if keep.any() else "    -")
            far.append(f"{distance[keep].mean():5.2f}" if keep.any() else "    -")
        print(f"  {a:5d} " + " ".join(cells) + "  | " + " ".join(far))


def report_cost(found: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    plain = found["plain+0"]
    rows = plain[~np.isnan(plain[:, 0])][:200]
    boxes = [Box(*(int(v) for v in r[:4]), float(r[4]), tuple(float(v) for v in r[5:])) for r in rows]
    estimate_pose(boxes[0])  # load the model
    for method in ("fitted", "pnp"):
        start = time.perf_counter()
        for box in boxes:
            pose = estimate_pose(box, method)
            attention_state(pose, (0.0, 0.0))
            is_readable(pose)
        single = (time.perf_counter() - start) / len(boxes) * 1e6
        start = time.perf_counter()
        for i in range(0, len(boxes), 20):
            poses = estimate_poses(boxes[i : i + 20], method)
            yaw, pitch = np.array([[p.yaw, p.pitch] for p in poses]).T
            attention_states(yaw, pitch, (0.0, 0.0))
            readable_mask(yaw, pitch)
        batch = (time.perf_counter() - start) / len(boxes) * 1e6
        print(
            f"  {method:6s} pose + state + readable: {single:6.0f} us per face one at a time, "
            f"{batch:5.0f} us per face in frames of 20 faces (target <= 1000)"
        )
    report_session_cost(boxes)


def report_session_cost(boxes: list[Box], faces: int = 30, samples: int = 600) -> None:
    """The whole per-face cost of a session: pose, ByteTrack tracking, smoothing, the class's reference
    direction and the states, over `samples` samples of `faces` faces (real landmarks, boxes laid out in rows
    and jittered a little from sample to sample, as in a class)."""
    from dataclasses import replace

    from engage.attention.stage import AttentionStage
    from engage.types import FrameFaces

    rng = np.random.default_rng(0)
    stage = AttentionStage(2.0)

    def moved(box: Box, dx: int, dy: int) -> Box:
        landmarks = tuple(v + (dx if i % 2 == 0 else dy) for i, v in enumerate(box.landmarks or ()))
        return replace(box, x=box.x + dx, y=box.y + dy, landmarks=landmarks)

    seats = [
        moved(
            boxes[i % len(boxes)], 120 * (i % 10) - boxes[i % len(boxes)].x, 150 * (i // 10) - boxes[i % len(boxes)].y
        )
        for i in range(faces)
    ]
    probabilities = np.full((faces, 7), 1 / 7, np.float32)
    start = time.perf_counter()
    for k in range(samples):
        jitter = rng.integers(-3, 4, size=(faces, 2))
        sample = [moved(b, int(d[0]), int(d[1])) for b, d in zip(seats, jitter, strict=True)]
        stage.update(FrameFaces(k / 2, sample, probabilities, poses=estimate_poses(sample)))
    per_face = (time.perf_counter() - start) / (faces * samples) * 1e6
    print(
        f"  a session: pose + tracks + smoothing + reference + states: {per_face:5.0f} us per face "
        f"({faces} faces x {samples} samples at 2/s; target <= 1000)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding headpose/pointing04/ (default $ENGAGE_DATA or ../shared/data)")
    parser.add_argument("--fit", action="store_true", help=f"fit on subjects 1-10 and write {MODEL_PATH.name}")
    parser.add_argument("--model-out", type=Path, default=MODEL_PATH, help="where --fit writes (default: %(default)s)")
    parser.add_argument("--cache", type=Path, help="an .npz to keep the detections (landmarks only) for reruns")
    parser.add_argument("--no-expressions", action="store_true", help="skip the expression-model table")
    args = parser.parse_args(argv)
    print("$ python " + shlex.join(["benchmarks/head_pose.py", *(sys.argv[1:] if argv is None else argv)]))
    folder = (Path(args.data) if args.data else shared_data_dir()) / "headpose" / "pointing04"
    if not (folder / "labels.csv").is_file():
        print(f"Pointing'04 not found at {folder} (set --data or ENGAGE_DATA); nothing to measure.")
        return 1
    labels = load_labels(folder)
    found = detections(folder, labels, args.cache)
    if args.fit:
        model = fit_model(found, labels, FIT_SUBJECTS)
        model.save(args.model_out)
        print(f"wrote {args.model_out} ({model.info['training_faces']} faces of subjects 1-10)")
    else:
        try:
            model = PoseModel.load(MODEL_PATH)
        except EngageError as exc:
            print(f"{exc}; make it with --fit")
            return 1
    report_detection(found, labels)
    poses = report_pose(found, labels, model)
    report_cross_validation(found, labels)
    report_states(poses, labels)
    if not args.no_expressions:
        report_expressions(folder, found, labels)
    print(f"\nCost on this machine ({os.cpu_count()} CPUs), faces of the data set:")
    report_cost(found, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
