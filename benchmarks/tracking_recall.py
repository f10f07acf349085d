"""Following faces between full sweeps against a full sweep of every sample: faces found, runs of misses, CPU.

    python benchmarks/tracking_recall.py [--data DIR] [--videos DIR] [--quick]

Both detectors are built from the default config (engage.vision.sweep, engage.vision.follow) and read the same
samples side by side:

- the shared face videos (DIR/WolfgangLanger_Pexels.mp4, single_face.mp4) at 1, 2 and 5 samples/s;
- the CMU+MIT photos read as an image folder (`engage analyze FOLDER`): 130 unrelated scenes in a row;
- synthetic lectures (tests/lecture.py: real faces that walk in, walk out, and turn away for 3-6 s): 12 people
  in 720p at 1 and 2 samples/s, 12 people with 8-14 px faces in 640x352, 30 people in 1080p at 2 samples/s.

Per source: faces found by each, the share of the full sweep's faces the follower also found (same place,
IoU >= 0.3), and the longest run of samples in which a face the full sweep found was missed (per person in
the lectures; in the videos and photos, samples in a row where any was missed). CPU ms per sample of each
(process time, detection only). Targets: faces found >= 0.98 of the full sweep's; no run longer than 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import common
import numpy as np

sys.path.insert(0, str(common.REPO / "tests"))

from engage.config import load_config  # noqa: E402
from engage.types import Box  # noqa: E402
from engage.vision.follow import FollowingDetector, session_detector  # noqa: E402
from engage.vision.sweep import sweep_detector  # noqa: E402

Sample = tuple[np.ndarray, list[tuple[int, tuple[int, int, int, int]]] | None]  # image, (person, face box) truth


@dataclass
class Tally:
    samples: int = 0
    full: int = 0
    followed: int = 0
    matched: int = 0
    longest: int = 0
    full_ms: float = 0.0
    follow_ms: float = 0.0
    runs: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    counts: dict[str, int] = field(default_factory=dict)


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter)


def compare(samples: Iterable[Sample]) -> Tally:
    config = load_config(environ={})
    reference = sweep_detector(config.detector)
    follower = session_detector(sweep_detector(config.detector), config.detector)
    assert isinstance(follower, FollowingDetector)
    tally = Tally()
    for image, truth in samples:
        c0 = time.process_time()
        full = reference.detect(image)
        c1 = time.process_time()
        mine = follower.detect(image)
        c2 = time.process_time()
        tally.full_ms += (c1 - c0) * 1000
        tally.follow_ms += (c2 - c1) * 1000
        tally.samples += 1
        tally.full += len(full)
        tally.followed += len(mine)
        seen = [any(iou(f, m) >= 0.3 for m in mine) for f in full]
        tally.matched += sum(seen)
        if truth is None:  # no identities: samples in a row where any face the sweep found was missed
            key_missed = [(0, not all(seen))]
        else:
            key_missed = []
            for person, (x, y, w, h) in truth:
                box = Box(x, y, w, h)
                in_full = any(iou(box, f) >= 0.25 for f in full)
                key_missed.append((person, in_full and not any(iou(box, m) >= 0.25 for m in mine)))
        for key, missed in key_missed:
            tally.runs[key] = tally.runs[key] + 1 if missed else 0
            tally.longest = max(tally.longest, tally.runs[key])
    tally.counts = dict(follower.counts)
    return tally


def video(path: Path, fps: float) -> Iterator[Sample]:
    from engage.sources.media import VideoFileSource

    with VideoFileSource(path) as source:
        for frame in source.frames(fps):
            yield frame.image, None


def folder(path: Path) -> Iterator[Sample]:
    from engage.sources.media import ImageFolderSource

    with ImageFolderSource(path) as source:
        for frame in source.frames(1.0):
            yield frame.image, None


def lecture_samples(**kwargs: object) -> Iterator[Sample]:
    from lecture import lecture

    for _, image, people in lecture(**kwargs):
        yield image, [(p.person, p.box) for p in people]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="folder holding face_detect/ (default $ENGAGE_DATA, ../shared/data)")
    parser.add_argument("--videos", type=Path, help="folder of the shared face videos (default ../shared/videos)")
    parser.add_argument("--quick", action="store_true", help="shorter lectures")
    args = parser.parse_args()
    data = args.data or Path(os.environ.get("ENGAGE_DATA") or common.REPO.parent / "shared" / "data")
    videos = args.videos or Path(os.environ.get("ENGAGE_VIDEOS") or data.parent / "videos")
    seconds = 40 if args.quick else 120
    sources: list[tuple[str, Iterable[Sample]]] = []
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4"):
        if (videos / name).is_file():
            for fps in (1.0, 2.0, 5.0):
                sources.append((f"{name} at {fps:g}/s", video(videos / name, fps)))
        else:
            print(f"(no {videos / name}: skipped)")
    if (data / "face_detect" / "images").is_dir():
        sources.append(("CMU+MIT photos as a folder", folder(data / "face_detect" / "images")))
    else:
        print(f"(no {data / 'face_detect'}: photos skipped)")
    sources += [
        ("lecture 720p, 12 people, 1/s", lecture_samples(seconds=seconds, fps=1.0)),
        ("lecture 720p, 12 people, 2/s", lecture_samples(seconds=seconds, fps=2.0)),
        ("lecture 640x352, 8-14 px faces, 1/s", lecture_samples(seconds=seconds, size=(640, 352), face_scale=0.55)),
        (
            "lecture 1080p, 30 people, 2/s",
            lecture_samples(seconds=seconds / 2, fps=2.0, size=(1920, 1080), people=30),
        ),
    ]
    head = (
        f"{'source':<38}{'samples':>8}{'full':>7}{'follow':>7}{'ratio':>7}{'matched':>8}{'run':>5}"
        f"{'swept':>7}{'full ms':>9}{'follow ms':>10}"
    )
    print(head)
    print("-" * len(head))
    for label, samples in sources:
        t = compare(samples)
        swept = t.counts.get("sweep", 0) / max(1, t.samples)
        print(
            f"{label:<38}{t.samples:>8}{t.full:>7}{t.followed:>7}{t.followed / max(1, t.full):>7.3f}"
            f"{t.matched / max(1, t.full):>8.3f}{t.longest:>5}{swept:>7.0%}"
            f"{t.full_ms / max(1, t.samples):>9.1f}{t.follow_ms / max(1, t.samples):>10.1f}",
            flush=True,
        )
    print(
        "\nfull / follow: faces found by a full sweep of every sample / by the follower; ratio: follow / full "
        "(target >= 0.98);\nmatched: share of the full sweep's faces the follower found at the same place; run: "
        "longest run of samples\na face the sweep found was missed (target <= 2); swept: samples the follower swept; "
        "ms: CPU per sample."
    )


if __name__ == "__main__":
    main()
