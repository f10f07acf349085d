"""`engage record` in real time: sampling rate achieved, processing time per frame, CPU headroom, memory.

    python benchmarks/recorder_speed.py [--seconds 60] [--faces 30] [--fps 2] [--skip-memory]
                                        [--long-hours 3] [--speed 60] [--no-follow-off]

1. Real time: a 1080p 30 frames/s H.264 clip of `--faces` real faces (the astronaut's head from
   skimage.data, tiled by tests/clips.py) is played by the recorder at real-time pace on the system clock
   for `--seconds`, sampled at `--fps` (default 2/s), exactly as `engage record --source FILE` does
   (capture thread decoding every frame, inference loop detecting and classifying 30 faces). Prints
   the achieved sampling rate vs the intended one, the processing time per frame (median, p95) and the
   process CPU time / wall time (out of os.cpu_count() cores: the rest is headroom), with the default config
   (faces followed between full sweeps) and then with ``detector.follow: false`` (a full sweep of every sample).
   Target: achieved rate = intended, with >= 1.0 core to spare.
2. Memory: peak RSS of `engage record --source CLIP --speed S` in a fresh process on a 3-hour clip
   (simulated at `--speed` times real time) vs a 10-minute clip of the same content, plus RSS samples
   through the long run. Target: the long session's peak within 10% of the short one's, and flat.

Run it on an idle machine for the figures; report `uptime` load with them (the script prints it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402

sys.path.insert(0, str(common.REPO / "tests"))


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def real_time(seconds: float, faces: int, fps: float, folder: Path, follow_off: bool = True) -> None:
    from clips import make_clip

    from engage.config import load_config
    from engage.store.database import open_store
    from engage.vision.analyzer import FrameAnalyzer

    print(f"building a 1080p30 clip of {faces} real faces, {seconds:.0f} s ...", flush=True)
    clip = make_clip(folder / "class1080.mp4", seconds + 5, fps=30, size=(1920, 1080), faces=faces, noise=6)
    store = open_store(folder / "bench.db")
    for follow in (True, False) if follow_off else (True,):
        config = load_config(environ={}, overrides={"sample_fps": fps, "detector": {"follow": follow}})
        record(clip, store, config, FrameAnalyzer(config), seconds, faces, fps, follow)


def record(clip: Path, store, config, analyzer, seconds: float, faces: int, fps: float, follow: bool) -> None:
    from engage.runs.recorder import Recorder
    from engage.sources.live import file_input

    mode = "default config" if follow else "detector.follow: false"
    print(f"recording for {seconds:.0f} s at {fps:g} frames/s, {mode} ({load()})", flush=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = Recorder(file_input(clip), store, config, analyzer, duration=seconds).run()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    cores = os.cpu_count() or 1
    minutes = store.minutes(result.session.id)
    faces_mean = statistics.fmean(m.faces_mean for m in minutes) if minutes else 0.0
    print(f"  frames sampled {result.frames} of {result.intended} intended, dropped {result.dropped}")
    print(f"  achieved sampling rate {result.achieved_fps:.2f} frames/s (intended {fps:g})")
    print(f"  faces per frame {faces_mean:.1f} (of {faces} in the picture)")
    print(
        f"  processing per frame (detect + classify): median {result.process_ms_median:.0f} ms, "
        f"p95 {result.process_ms_p95:.0f} ms (budget {1000 / fps:.0f} ms)"
    )
    print(
        f"  CPU {cpu:.1f} s in {wall:.1f} s wall = {cpu / wall:.2f} cores of {cores} "
        f"({100 * cpu / wall / cores:.0f}% of the machine; headroom {cores - cpu / wall:.2f} cores), "
        "capture decoding 1080p30 included"
    )
    print(f"  ({load()} at the end)")


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss(clip: Path, db: Path, speed: float, fps: float) -> tuple[float, float, list[int]]:
    """Run `engage record` on the clip; returns (peak RSS MiB, wall s, RSS samples in MiB)."""
    command = [sys.executable, "-m", "engage", "record", "--source", str(clip), "--speed", str(speed)]
    command += ["--sample-fps", str(fps), "--db", str(db)]
    env = {**os.environ, "PYTHONPATH": str(common.REPO)}
    started = time.perf_counter()
    log_path = db.with_suffix(".log")
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
    samples: list[int] = []

    def sample() -> None:
        while process.poll() is None:
            kib = _rss_kib(process.pid)
            if kib:
                samples.append(kib // 1024)
            time.sleep(2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    wall = time.perf_counter() - started
    summary = process.stdout.read().decode().strip() if process.stdout else ""
    if process.returncode != 0:
        raise SystemExit(f"engage record failed ({process.returncode}): {log_path.read_text()[-2000:]}")
    print(f"    {summary}")
    return usage.ru_maxrss / 1024, wall, samples


def memory(hours: float, speed: float, fps: float, folder: Path) -> None:
    from clips import make_clip

    long_s = hours * 3600
    print(f"building a {hours:g}-hour clip (2 frames/s of video, 640x360, 3 faces) ...", flush=True)
    long_clip = make_clip(folder / "long.mp4", long_s, fps=2, size=(640, 360), faces=3)
    short_clip = make_clip(folder / "short.mp4", 600, fps=2, size=(640, 360), faces=3)
    results = {}
    for label, clip in (("10 minutes", short_clip), (f"{hours:g} hours", long_clip)):
        print(f"  {label} at {speed:g}x real time ({load()})", flush=True)
        results[label] = peak_rss(clip, folder / f"{label.replace(' ', '')}.db", speed, fps)
    (short_peak, _, _), (long_peak, long_wall, samples) = results.values()
    print(f"  peak RSS: 10-minute session {short_peak:.0f} MiB, {hours:g}-hour session {long_peak:.0f} MiB")
    print(f"  ratio {long_peak / short_peak:.3f} (target <= 1.10); long run took {long_wall:.0f} s")
    if samples:
        n = len(samples)
        points = [samples[min(n - 1, int(n * q))] for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
        print("  RSS through the long session at 10/25/50/75/100%: " + " / ".join(f"{p} MiB" for p in points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--faces", type=int, default=30)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-real-time", action="store_true")
    parser.add_argument("--no-follow-off", action="store_true", help="do not also record with detector.follow: false")
    parser.add_argument("--long-hours", type=float, default=3.0)
    parser.add_argument("--speed", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_real_time:
            real_time(args.seconds, args.faces, args.fps, folder, not args.no_follow_off)
        if not args.skip_memory:
            memory(args.long_hours, args.speed, args.fps, folder)


if __name__ == "__main__":
    main()
