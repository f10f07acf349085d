"""Face-detector accuracy and speed on the CMU+MIT frontal-face test set (shared data, not shipped).

Usage: python benchmarks/detector_accuracy.py [--data DIR] [--quick]

Every setting is also measured on the photos at half size (boxes and landmarks halved): small faces.
The first row is engage's full sweep as photos get it (config defaults, fast_side 0: engage.vision.sweep).
Targets: half size recall >= 0.93 at precision >= 0.95; full size recall >= 0.95 at precision >= 0.95.

DIR (or $ENGAGE_DATA) is a folder holding face_detect/; the default is ../shared/data next to the repo.
A detection is a hit for a labelled face when it contains both eyes and the mouth centre from
landmarks.csv and is at most 1.5x the face's boxes.csv height (so one huge box cannot claim a face);
each face and each detection match at most once. IoU >= 0.35 against boxes.csv is reported as a cross-check.
Unmatched detections are false positives (some may be unlabelled faces: drawings, posters, album art).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engage.config import load_config
from engage.types import Box
from engage.vision.detection import (
    DEFAULT_MAX_SIDE,
    DEFAULT_MIN_FACE,
    DEFAULT_SCORE_THRESHOLD,
    FaceDetector,
    HaarDetector,
    YuNetDetector,
)
from engage.vision.sweep import sweep_detector

REPO_ROOT = Path(__file__).resolve().parent.parent
VIDEO = "videos/WolfgangLanger_Pexels.mp4"


@dataclass
class Face:
    box: tuple[int, int, int, int]
    eyes_mouth: np.ndarray  # (3, 2): left eye, right eye, mouth centre


@dataclass
class Result:
    label: str
    faces: int = 0
    hits: int = 0
    hits_iou: int = 0
    detections: int = 0
    fp_noface: int = 0
    class57: int = 0
    small: int = 0
    ms_image: float = 0.0
    ms_720p: float = 0.0
    cpu_720p: float = 0.0
    half_faces: int = 0
    half_hits: int = 0
    half_detections: int = 0

    @property
    def false_positives(self) -> int:
        return self.detections - self.hits

    @property
    def precision(self) -> float:
        return self.hits / self.detections if self.detections else 1.0

    @property
    def half_recall(self) -> float:
        return self.half_hits / self.half_faces if self.half_faces else 0.0

    @property
    def half_precision(self) -> float:
        return self.half_hits / self.half_detections if self.half_detections else 1.0


def data_root(arg: str | None) -> Path:
    return Path(arg or os.environ.get("ENGAGE_DATA") or REPO_ROOT.parent / "shared" / "data")


def load_faces(folder: Path) -> dict[str, list[Face]]:
    import csv

    with open(folder / "boxes.csv", newline="") as f:
        boxes = list(csv.DictReader(f))
    with open(folder / "landmarks.csv", newline="") as f:
        marks = list(csv.DictReader(f))
    faces: dict[str, list[Face]] = defaultdict(list)
    for b, m in zip(boxes, marks, strict=True):
        assert b["image"] == m["image"], "boxes.csv and landmarks.csv rows must align"
        pts = [(m[f"{p}_x"], m[f"{p}_y"]) for p in ("left_eye", "right_eye", "mouth_center")]
        faces[b["image"]].append(Face((int(b["x"]), int(b["y"]), int(b["w"]), int(b["h"])), np.array(pts, dtype=float)))
    return faces


def halved(images: dict[str, np.ndarray], faces: dict[str, list[Face]]):
    """The photos at half size (INTER_AREA) with their faces' boxes and landmarks halved."""
    small = {
        name: cv2.resize(im, (round(im.shape[1] / 2), round(im.shape[0] / 2)), interpolation=cv2.INTER_AREA)
        for name, im in images.items()
    }
    half = {name: [Face(tuple(v / 2 for v in f.box), f.eyes_mouth / 2) for f in found] for name, found in faces.items()}
    return small, half


def iou(a: tuple[int, int, int, int], b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b.x + b.w) - max(a[0], b.x))
    iy = max(0, min(a[1] + a[3], b.y + b.h) - max(a[1], b.y))
    inter = ix * iy
    return inter / (a[2] * a[3] + b.w * b.h - inter)


def contains(face: Face, d: Box) -> bool:
    x, y = face.eyes_mouth[:, 0], face.eyes_mouth[:, 1]
    inside = (x >= d.x) & (x <= d.x + d.w) & (y >= d.y) & (y <= d.y + d.h)
    return bool(inside.all()) and d.h <= 1.5 * face.box[3]


def match(faces: list[Face], dets: list[Box], rule: Callable[[Face, Box], float]) -> int:
    """Greedy one-to-one matching, best detection first; `rule` > 0 means a candidate pair."""
    used: set[int] = set()
    hits = 0
    for d in sorted(dets, key=lambda b: -b.score):
        best, best_val = -1, 0.0
        for i, face in enumerate(faces):
            if i not in used and (val := rule(face, d)) > best_val:
                best, best_val = i, val
        if best >= 0:
            used.add(best)
            hits += 1
    return hits


def landmark_rule(face: Face, d: Box) -> float:
    return iou(face.box, d) + 1e-6 if contains(face, d) else 0.0


def iou_rule(face: Face, d: Box) -> float:
    v = iou(face.box, d)
    return v if v >= 0.35 else 0.0


def small_faces_scene(class57: np.ndarray, faces: list[Face]) -> tuple[np.ndarray, list[Face]]:
    """A 1280x720 lecture-hall frame with 114 faces ~15 px tall (tight): class57.jpg at half size, twice.

    The photo and its mirror image sit side by side on a gray band, like the back rows of a wide shot.
    """
    half = cv2.resize(class57, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    h, w = half.shape[:2]
    top = (720 - h) // 2
    band = np.hstack([half, half[:, ::-1]])
    scene = cv2.copyMakeBorder(band, top, 720 - h - top, 0, 0, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    out = []
    for f in faces:
        x, y, bw, bh = (v // 2 for v in f.box)
        pts = f.eyes_mouth / 2 + [0, top]
        out.append(Face((x, y + top, bw, bh), pts))
        mirrored = pts.copy()
        mirrored[:, 0] = 2 * w - 1 - mirrored[:, 0]
        out.append(Face((2 * w - x - bw, y + top, bw, bh), mirrored))
    return scene, out


def frames_720p(data: Path, class57: np.ndarray, small_scene: np.ndarray) -> list[np.ndarray]:
    """1280x720 test frames: the middle of class57.jpg, the small-faces scene and upscaled shared-video frames."""
    top = (class57.shape[0] - 720) // 2
    frames = [np.ascontiguousarray(class57[top : top + 720, :1280]), small_scene]
    cap = cv2.VideoCapture(str(data.parent / VIDEO))
    for t in (2000, 10000):
        cap.set(cv2.CAP_PROP_POS_MSEC, t)
        ok, frame = cap.read()
        if ok:
            frames.append(cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR))
    cap.release()
    return frames


def timed(det: FaceDetector, image: np.ndarray) -> tuple[list[Box], float, float]:
    """Boxes, wall-clock ms and process CPU ms (all threads) of one detect() call."""
    w0, c0 = time.perf_counter(), time.process_time()
    boxes = det.detect(image)
    return boxes, (time.perf_counter() - w0) * 1000.0, (time.process_time() - c0) * 1000.0


def ms_720p(det: FaceDetector, frames: list[np.ndarray], repeats: int = 3) -> tuple[float, float]:
    """Wall and CPU ms: median over frames of the fastest of `repeats` runs (the minimum filters out other jobs)."""
    runs = [[timed(det, f)[1:] for _ in range(repeats)] for f in frames]
    wall = statistics.median(min(r[0] for r in rs) for rs in runs)
    cpu = statistics.median(min(r[1] for r in rs) for rs in runs)
    return wall, cpu


def evaluate(det: FaceDetector, label: str, images: dict[str, np.ndarray], faces, scene, frames, half) -> Result:
    res = Result(label)
    det.detect(next(iter(images.values())))  # warm-up
    times = []
    for name, image in images.items():
        dets, ms, _ = timed(det, image)
        times.append(ms)
        gt = faces.get(name, [])
        hits = match(gt, dets, landmark_rule)
        res.faces += len(gt)
        res.hits += hits
        res.hits_iou += match(gt, dets, iou_rule)
        res.detections += len(dets)
        if not gt:
            res.fp_noface += len(dets)
        if name == "class57.jpg":
            res.class57 = hits
    res.small = match(scene[1], det.detect(scene[0]), landmark_rule)
    for name, image in half[0].items():
        dets = det.detect(image)
        gt = half[1].get(name, [])
        res.half_faces += len(gt)
        res.half_hits += match(gt, dets, landmark_rule)
        res.half_detections += len(dets)
    res.ms_image = statistics.mean(times)
    res.ms_720p, res.cpu_720p = ms_720p(det, frames)
    return res


def configs(quick: bool) -> list[tuple[str, FaceDetector]]:
    d_min, d_thr, d_side = DEFAULT_MIN_FACE, DEFAULT_SCORE_THRESHOLD, DEFAULT_MAX_SIDE
    photo = load_config(environ={}).detector.model_copy(update={"fast_side": 0})  # as engage.vision.photos
    out: list[tuple[str, FaceDetector]] = [
        (f"sweep x{photo.upscale:g} <={photo.small_frame}|<{photo.small_face}px", sweep_detector(photo)),
        (f"yunet min{d_min} thr{d_thr} side{d_side}", YuNetDetector(d_min, d_thr, d_side)),
    ]
    if not quick:
        for upscale in (1.0, 2.0):
            setting = photo.model_copy(update={"upscale": upscale})
            out.append((f"sweep x{upscale:g} <={photo.small_frame}|<{photo.small_face}px", sweep_detector(setting)))
        for small_frame, small_face in ((0, 24), (640, 32)):
            setting = photo.model_copy(update={"small_frame": small_frame, "small_face": small_face})
            out.append((f"sweep x{photo.upscale:g} <={small_frame}|<{small_face}px", sweep_detector(setting)))
        out.append((f"yunet min16 thr{d_thr} side{d_side}", YuNetDetector(16, d_thr, d_side)))
    if not quick:
        for side in (640, 1280):
            out.append((f"yunet min{d_min} thr{d_thr} side{side}", YuNetDetector(d_min, d_thr, side)))
        for thr in (0.3, 0.5, 0.7):
            out.append((f"yunet min{d_min} thr{thr} side{d_side}", YuNetDetector(d_min, thr, d_side)))
        for min_face in (0, 24, 32):
            out.append((f"yunet min{min_face} thr{d_thr} side{d_side}", YuNetDetector(min_face, d_thr, d_side)))
    out.append((f"haar  min{d_min} nb5 side{d_side}", HaarDetector(d_min, d_side)))
    if not quick:
        out.append((f"haar  min{d_min} nb5 side640", HaarDetector(d_min, 640)))
        out.append((f"haar  min{d_min} nb3 side{d_side}", HaarDetector(d_min, d_side, min_neighbors=3)))
        out.append((f"haar  min{d_min} nb5 side{d_side} no equalize", HaarDetector(d_min, d_side, equalize=False)))
        out.append((f"haar  min{d_min} nb5 side{d_side} scale 1.2", HaarDetector(d_min, d_side, scale_factor=1.2)))
    return out


def print_table(results: list[Result], n_images: int, n_noface: int, n_small: int) -> None:
    head = (
        f"{'setting':<38}{'recall':>8}{'IoU.35':>8}{'FP':>6}{'FP0':>5}{'prec':>7}{'rec/2':>7}{'prec/2':>7}"
        f"{'cls57':>7}{'small':>7}{'ms/img':>8}{'ms@720p':>9}{'cpu@720p':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r.label:<38}{r.hits / r.faces:>8.1%}{r.hits_iou / r.faces:>8.1%}{r.false_positives:>6}{r.fp_noface:>5}"
            f"{r.precision:>7.1%}{r.half_recall:>7.1%}{r.half_precision:>7.1%}"
            f"{r.class57:>7}{r.small:>7}{r.ms_image:>8.1f}{r.ms_720p:>9.1f}{r.cpu_720p:>9.1f}"
        )
    print(
        f"\nrecall: landmark rule, {results[0].faces} faces in {n_images} images; IoU.35: recall at IoU >= 0.35 "
        f"against boxes.csv;\nFP: unmatched detections in all images; FP0: detections in the {n_noface} images "
        "without faces; prec: precision;\nrec/2, prec/2: recall and precision on the photos at half size;\n"
        "cls57: faces found of the 57 in class57.jpg (1280x1024, faces ~30 px "
        f"eyes-to-mouth box);\nsmall: of {n_small} faces ~15 px in a 1280x720 frame (class57 at half size, twice);\n"
        "ms/img: mean wall time over the 130 images, one run each; ms@720p: median wall time over the 1280x720 frames\n"
        "of the fastest of 3 runs; cpu@720p: the same in process CPU time, all threads (steadier under load)."
    )


def print_threads(frames: list[np.ndarray]) -> None:
    print("\nYuNet OpenMP threads on 1280x720 frames, wall / CPU ms (defaults otherwise):")
    for side in (640, DEFAULT_MAX_SIDE):
        cells = []
        for n in (1, 2):
            wall, cpu = ms_720p(YuNetDetector(max_side=side, threads=n), frames)
            cells.append(f"{n} thread{'s' if n > 1 else ' '} {wall:6.1f} / {cpu:6.1f}")
        print(f"  max_side {side:<5} " + "   ".join(cells))


def fer_framing(data: Path, n: int = 400) -> None:
    """Where detector boxes fall on FER2013 faces: the crop margin that reproduces FER2013's framing."""
    path = data / "fer2013.npz"
    if not path.is_file():
        return
    faces = np.load(path)["val_x"][:n]
    up = 160
    print(f"\nCrop framing vs FER2013 ({n} PublicTest faces upscaled to {up} px, padded; box side / frame side):")
    for det in (YuNetDetector(min_face=40), HaarDetector(min_face=40)):
        rows = []
        for face in faces:
            big = cv2.resize(face, (up, up), interpolation=cv2.INTER_CUBIC)
            pad = cv2.copyMakeBorder(big, up // 2, up // 2, up // 2, up // 2, cv2.BORDER_CONSTANT, value=128)
            boxes = det.detect(pad)
            if boxes:
                b = max(boxes, key=lambda b: b.w * b.h)
                rows.append((b.w / up, b.h / up, max(b.w, b.h) / up))
        a = np.array(rows)
        margin = (1.0 / a[:, 2] - 1.0) / 2.0
        print(
            f"  {det.name:<6} found {len(a)}/{n}  median w {np.median(a[:, 0]):.2f}  h {np.median(a[:, 1]):.2f}  "
            f"-> margin reproducing FER framing: median {np.median(margin):+.3f} "
            f"(IQR {np.percentile(margin, 25):+.3f}..{np.percentile(margin, 75):+.3f})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="folder holding face_detect/ (default $ENGAGE_DATA or ../shared/data)")
    parser.add_argument("--quick", action="store_true", help="only the default settings of each detector")
    args = parser.parse_args(argv)
    data = data_root(args.data)
    folder = data / "face_detect"
    if not (folder / "boxes.csv").is_file():
        print(f"Benchmark data not found at {folder} (set --data or ENGAGE_DATA); nothing to measure.")
        return 0

    faces = load_faces(folder)
    images = {p.name: cv2.imread(str(p), cv2.IMREAD_COLOR) for p in sorted((folder / "images").glob("*.jpg"))}
    n_noface = sum(1 for name in images if name not in faces)
    scene = small_faces_scene(images["class57.jpg"], faces["class57.jpg"])
    half = halved(images, faces)
    frames = frames_720p(data, images["class57.jpg"], scene[0])
    print(f"{len(images)} images, {sum(len(v) for v in faces.values())} faces, {n_noface} without faces; ", end="")
    print(f"{len(frames)} frames at 1280x720; OpenCV {cv2.__version__}; {os.cpu_count()} CPUs\n")

    results = []
    for label, det in configs(args.quick):
        results.append(evaluate(det, label, images, faces, scene, frames, half))
    print_table(results, len(images), n_noface, len(scene[1]))
    print_threads(frames)

    fer_framing(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
