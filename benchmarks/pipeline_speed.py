"""`engage analyze` cost vs the decode floors and vs the `fer` package; peak memory vs video length.

    python benchmarks/pipeline_speed.py [--minutes 10] [--faces 4] [--long-minutes 120] [--skip-memory]
                                        [--skip-fer] [--compare-fast-sides 640,480] [--no-follow-off]
                                        [--clip PATH] [--repeat 3]

1. Builds a 720p30 H.264 clip of real faces (tests/clips.py; x264 "veryfast" with grain so decoding
   costs like a real recording), then in one run times: OpenCV grabbing every frame and decoding the
   sampled ones at 1 fps (the OpenCV grab-and-decode floor), engage's own sampling alone (PyAV, unreferenced
   frames and, where that is exact, all B-frames skipped: engage's decode floor), the full analysis
   (decode + detect + classify + aggregate + SQLite commits) with the default config (faces followed between
   full sweeps, engage.vision.follow) and with
   ``detector.follow: false`` (a full sweep of every sample), and the `fer` package's `Video.analyze` at the
   same rate, if installed (`pip install --no-deps fer`).
   Target: analysis <= 0.6x the OpenCV grab-and-decode floor.
2. Peak RSS of `engage analyze` in a fresh process on a short and a long clip of the same content
   (the long one at 2 frames/s of video to keep its encoding quick; sampling stays 1 fps).
   Target: the long video's peak within 10% of the short one's.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402

sys.path.insert(0, str(common.REPO / "tests"))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def decode_floor(path: Path) -> tuple[float, int]:
    from engage.sources.media import VideoFileSource

    start = time.perf_counter()
    with VideoFileSource(path) as source:
        count = sum(1 for _ in source.frames(1.0))
    return time.perf_counter() - start, count


def opencv_floor(path: Path) -> float:
    """Seconds for OpenCV to grab every frame and decode (retrieve) the first at or after each second."""
    import cv2

    start = time.perf_counter()
    capture = cv2.VideoCapture(str(path))
    due = 0
    while capture.grab():
        t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if t + 1e-6 >= due:
            capture.retrieve()
            due = math.floor(t + 1e-6) + 1
    capture.release()
    return time.perf_counter() - start


def engage_analysis(path: Path, db: Path, overrides: dict | None = None) -> tuple[float, int, int, float]:
    """Wall seconds, frames, faces and CPU seconds (this process, all threads) of one `engage analyze`."""
    from engage.config import load_config
    from engage.runs.analyze import analyze
    from engage.sources.media import VideoFileSource
    from engage.store.database import open_store
    from engage.vision.analyzer import FrameAnalyzer

    config = load_config(environ={}, overrides=overrides)
    analyzer = FrameAnalyzer(config)  # model loading is start-up, not per-video cost
    store = open_store(db)
    start, cpu = time.perf_counter(), time.process_time()
    with VideoFileSource(path) as source:
        result = analyze(source, store, config, analyzer, new=True)
    return time.perf_counter() - start, result.frames, result.faces, time.process_time() - cpu


def fer_analysis(path: Path, every_nth_frame: int) -> tuple[float, int] | None:
    try:
        import cv2
        from fer.classes import Video
        from fer.fer import FER
    except ImportError:
        return None
    # fer calls GUI functions that headless OpenCV lacks.
    cv2.waitKey = lambda *a, **k: -1
    cv2.imshow = cv2.destroyAllWindows = lambda *a, **k: None
    detector = FER(mtcnn=False)
    with tempfile.TemporaryDirectory() as outdir:
        video = Video(str(path), outdir=outdir)
        cwd = os.getcwd()
        os.chdir(outdir)  # fer writes data.csv into the working directory
        start = time.perf_counter()
        data = video.analyze(
            detector,
            display=False,
            frequency=every_nth_frame,  # fer seeks to every n-th frame
            save_frames=False,
            save_video=False,
            annotate_frames=False,
            zip_images=False,
        )
        elapsed = time.perf_counter() - start
        os.chdir(cwd)
    # fer returns one flat dict per frame with faces: box0, angry0, ..., box1, ...
    return elapsed, sum(key.startswith("box") for frame in data for key in frame)


def peak_rss_mb(path: Path, db: Path) -> float:
    """Peak RSS (MB) of `engage analyze` on ``path`` in a fresh process."""
    code = (
        "import resource, runpy, sys; sys.argv = ['engage', 'analyze', sys.argv[1], '--db', sys.argv[2], '--new'];"
        "from engage.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), str(db)], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the speed clip")
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--long-minutes", type=float, default=120.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true")
    parser.add_argument("--skip-fer", action="store_true")
    parser.add_argument("--clip", type=Path, help="make the speed clip here (reused by a rerun) instead of a temp dir")
    parser.add_argument("--repeat", type=int, default=1, help="time the floor and engage this many times, interleaved")
    parser.add_argument("--no-follow-off", action="store_true", help="do not also time detector.follow: false")
    parser.add_argument(
        "--compare-fast-sides",
        default="",
        help="also time these detector.fast_side values, comma-separated (0: always detector.max_side)",
    )
    args = parser.parse_args()
    from clips import make_clip

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = args.clip or tmp / "lecture.mp4"
        if args.memory_only:
            memory(args, tmp)
            return
        started = time.perf_counter()
        reused = clip.is_file()
        if not reused:
            make_clip(
                clip, args.minutes * 60, fps=30, size=(1280, 720), faces=args.faces, preset="veryfast", noise=12, crf=20
            )
        origin = f"reused {clip}" if reused else f"encoded in {time.perf_counter() - started:.0f} s"
        print(
            f"clip: {args.minutes:g} min of 1280x720 30 fps H.264 with {args.faces} real faces, "
            f"{clip.stat().st_size / 1e6:.1f} MB ({origin})"
        )
        modes: dict[str, dict | None] = {"default config": None}
        if not args.no_follow_off:
            modes["detector.follow: false"] = {"detector": {"follow": False}}
        for side in (int(side) for side in args.compare_fast_sides.split(",") if side.strip()):
            modes[f"fast_side {side}"] = {"detector": {"fast_side": side}}
        floors: list[float] = []
        cv_floors: list[float] = []
        runs: dict[str, list[tuple[float, int, int, float]]] = {mode: [] for mode in modes}
        for round_ in range(args.repeat):  # interleaved, so a burst of load hits every mode alike
            cv_floors.append(opencv_floor(clip))
            seconds, samples = decode_floor(clip)
            floors.append(seconds)
            for i, (mode, overrides) in enumerate(modes.items()):
                runs[mode].append(engage_analysis(clip, tmp / f"bench{round_}-{i}.db", overrides))
            if args.repeat > 1:
                times = "  ".join(f"{mode} {r[-1][0]:.1f} s" for mode, r in runs.items())
                floors_now = f"OpenCV floor {cv_floors[-1]:.1f} s  floor {seconds:.1f} s"
                print(f"  round {round_ + 1}: {floors_now}  {times}  {load()}")
        floor, cv_floor = statistics.median(floors), statistics.median(cv_floors)
        results = {
            mode: (statistics.median(r[0] for r in rs), rs[0][1], rs[0][2], statistics.median(r[3] for r in rs))
            for mode, rs in runs.items()
        }
        median = f", median of {args.repeat} runs" if args.repeat > 1 else ""
        print(
            f"OpenCV grab all + decode sampled:     {cv_floor:7.1f} s  {cv_floor / samples * 1000:6.1f} ms/sample  "
            f"(the OpenCV grab-and-decode floor{median})"
        )
        print(
            f"engage sampling alone (PyAV, 1 fps):  {floor:7.1f} s  {floor / samples * 1000:6.1f} ms/sample  "
            f"({samples} samples, {floor / cv_floor:.2f}x the OpenCV floor{median})"
        )
        for mode, (analysis, frames, faces, cpu) in results.items():
            label = f"engage analyze, {mode}"
            print(
                f"{label:38s} {analysis:7.1f} s  {analysis / frames * 1000:6.1f} ms/sample  "
                f"{faces / frames:.1f} faces/frame  -> {analysis / cv_floor:.2f}x the OpenCV floor (target <= 0.6), "
                f"{analysis / floor:.2f}x engage's decode floor ({args.minutes * 60 / analysis:.0f}x real time)"
            )
            print(
                f"{'':38s} CPU {cpu:.1f} s = {cpu / analysis:.2f} cores busy; {args.minutes * 60 / cpu:.0f} media s "
                "per CPU s (decoding included)"
            )
        print(load())
        analysis = next(iter(results.values()))[0]
        fer = None if args.skip_fer else fer_analysis(clip, every_nth_frame=30)  # the clip is 30 fps; 1 fps like engage
        if fer is None:
            print("fer Video.analyze: not run (`pip install --no-deps fer` to compare)")
        else:
            seconds, fer_faces = fer
            print(
                f"fer Video.analyze (1 fps, Haar):      {seconds:7.1f} s  {seconds / samples * 1000:6.1f} ms/sample  "
                f"{fer_faces / samples:.1f} faces/frame  -> {seconds / analysis:.1f}x engage's time"
            )
        if not args.skip_memory:
            memory(args, tmp)


def memory(args: argparse.Namespace, tmp: Path) -> None:
    from clips import make_clip

    short, long = tmp / "short.mp4", tmp / "long.mp4"
    make_clip(short, 120, fps=2, size=(1280, 720), faces=args.faces, preset="veryfast")
    make_clip(long, args.long_minutes * 60, fps=2, size=(1280, 720), faces=args.faces, preset="veryfast")
    short_mb = peak_rss_mb(short, tmp / "short.db")
    long_mb = peak_rss_mb(long, tmp / "long.db")
    print(
        f"peak RSS of `engage analyze` (1 fps, 1280x720, {args.faces} faces): 2-min video {short_mb:.0f} MB, "
        f"{args.long_minutes:g}-min video {long_mb:.0f} MB ({(long_mb / short_mb - 1) * 100:+.1f}%)"
    )


if __name__ == "__main__":
    main()
