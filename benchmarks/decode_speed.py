"""Decode speed: milliseconds per sampled frame when sampling a 720p30 H.264 clip at 1 fps.

Compares the ways engage could decode a video file and how far the frames each one picks are from the
exact rule (the first frame at or after each sample time, every frame decoded). The last line is the decode
floor: seconds to sample the whole clip with the chosen method, the least any analysis of that clip can cost.

    python benchmarks/decode_speed.py               # builds a 60 s clip in a temp folder (about a minute)
    python benchmarks/decode_speed.py --clip FILE   # or measure an existing video
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))

from clips import make_clip  # noqa: E402

from engage.sources.media import VideoFileSource  # noqa: E402

Sample = tuple[float, np.ndarray]  # media time, BGR image
EPS = 1e-6


class Sampler:
    """The sampling rule every method shares: the first frame at or after each target k / fps."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.due = 0

    def wants(self, t: float) -> bool:
        return t * self.fps + EPS >= self.due

    def took(self, t: float) -> None:
        self.due = math.floor(t * self.fps + EPS) + 1


def pyav_convert_all(path: Path, fps: float) -> Iterator[Sample]:
    """PyAV, threaded decode, every frame converted to BGR (the naive loop)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        sampler = Sampler(fps)
        for frame in container.decode(stream):
            image = frame.to_ndarray(format="bgr24")
            if sampler.wants(frame.time):
                sampler.took(frame.time)
                yield frame.time, image


def _pyav_sampled(path: Path, fps: float, thread_type: str | None, skip_frame: str | None = None) -> Iterator[Sample]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if thread_type:
            stream.thread_type = thread_type
        if skip_frame:
            stream.codec_context.skip_frame = skip_frame
        sampler = Sampler(fps)
        for frame in container.decode(stream):
            if sampler.wants(frame.time):
                sampler.took(frame.time)
                yield frame.time, frame.to_ndarray(format="bgr24")


def pyav_sampled_single(path: Path, fps: float) -> Iterator[Sample]:
    """PyAV, FFmpeg's default threading, only sampled frames converted."""
    return _pyav_sampled(path, fps, None)


def pyav_sampled_threads(path: Path, fps: float) -> Iterator[Sample]:
    """PyAV, thread_type AUTO (frame + slice threads), only sampled frames converted."""
    return _pyav_sampled(path, fps, "AUTO")


def pyav_nonref_threads(path: Path, fps: float) -> Iterator[Sample]:
    """PyAV, frame + slice threads, unreferenced frames not decoded (skip_frame NONREF)."""
    return _pyav_sampled(path, fps, "AUTO", "NONREF")


def pyav_nonref_slice(path: Path, fps: float) -> Iterator[Sample]:
    """PyAV, slice threads only, unreferenced frames not decoded: what VideoFileSource does at 1 fps."""
    return _pyav_sampled(path, fps, "SLICE", "NONREF")


def pyav_keyframes(path: Path, fps: float) -> Iterator[Sample]:
    """PyAV decoding keyframes only (skip_frame NONKEY): fast but samples other frames unless keyframes are dense."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.skip_frame = "NONKEY"
        sampler = Sampler(fps)
        for frame in container.decode(stream):
            if sampler.wants(frame.time):
                sampler.took(frame.time)
                yield frame.time, frame.to_ndarray(format="bgr24")


def opencv_read_all(path: Path, fps: float) -> Iterator[Sample]:
    """OpenCV read() on every frame (decode + convert all)."""
    capture = cv2.VideoCapture(str(path))
    try:
        sampler = Sampler(fps)
        while True:
            ok, image = capture.read()
            if not ok:
                break
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
            if sampler.wants(t):
                sampler.took(t)
                yield t, image
    finally:
        capture.release()


def opencv_grab_retrieve(path: Path, fps: float) -> Iterator[Sample]:
    """OpenCV grab() every frame, retrieve() (convert) only the sampled ones."""
    capture = cv2.VideoCapture(str(path))
    try:
        sampler = Sampler(fps)
        while capture.grab():
            t = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
            if sampler.wants(t):
                sampler.took(t)
                ok, image = capture.retrieve()
                if ok:
                    yield t, image
    finally:
        capture.release()


def chosen(path: Path, fps: float) -> Iterator[Sample]:
    """engage's VideoFileSource.frames (PyAV, unreferenced frames and, where exact, all B-frames not decoded)."""
    with VideoFileSource(path) as source:
        for frame in source.frames(fps):
            yield frame.timestamp, frame.image


METHODS: dict[str, Callable[[Path, float], Iterator[Sample]]] = {
    "PyAV decode + convert every frame": pyav_convert_all,
    "PyAV decode all, convert sampled (no threads)": pyav_sampled_single,
    "PyAV threaded decode, convert sampled": pyav_sampled_threads,
    "PyAV threaded, unreferenced frames skipped": pyav_nonref_threads,
    "PyAV slice threads, unreferenced frames skipped": pyav_nonref_slice,
    "PyAV keyframes only (NONKEY) [inexact]": pyav_keyframes,
    "OpenCV read() every frame": opencv_read_all,
    "OpenCV grab() + retrieve() sampled": opencv_grab_retrieve,
    "chosen: VideoFileSource.frames": chosen,
}


def run(method: Callable[[Path, float], Iterator[Sample]], path: Path, fps: float) -> tuple[float, float, list]:
    """Wall seconds, CPU seconds (all threads) and (time, thumbnail) per sample."""
    wall, cpu = time.perf_counter(), time.process_time()
    samples = [(t, image[::8, ::8].astype(np.int16)) for t, image in method(path, fps)]
    return time.perf_counter() - wall, time.process_time() - cpu, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, help="measure this video instead of building one")
    parser.add_argument("--seconds", type=float, default=60, help="length of the generated clip (default 60)")
    parser.add_argument("--fps", type=float, default=1.0, help="sampling rate (default 1)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest round counts (default 2)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.clip:
            path = args.clip
        else:
            path = Path(tmp) / "lecture_720p30.mp4"
            started = time.perf_counter()
            # veryfast + grain: CABAC, deblocking, B-frames and ~1 Mbit/s, like a real 720p recording.
            make_clip(path, args.seconds, fps=30, size=(1280, 720), faces=4, preset="veryfast", noise=12, crf=20)
            print(f"built {path.name} in {time.perf_counter() - started:.0f} s")
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            seconds = container.duration / av.time_base
            mbits = os.path.getsize(path) * 8 / seconds / 1e6
            print(
                f"clip: {stream.codec_context.name} {stream.width}x{stream.height} "
                f"{float(stream.average_rate):.2f} fps, {seconds:.1f} s, {stream.frames} frames, {mbits:.2f} Mbit/s"
            )
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; PyAV {av.__version__} "
            f"(FFmpeg {av.ffmpeg_version_info}), OpenCV {cv2.__version__}; sampling at {args.fps:g} fps"
        )

        best: dict[str, tuple[float, float]] = {}
        results: dict[str, list] = {}
        for _ in range(args.repeat):  # rounds interleave the methods so background load hits them alike
            for name, method in METHODS.items():
                wall, cpu, samples = run(method, path, args.fps)
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu)
                results[name] = samples

        # The exact rule: the first frame at or after each sample time, every frame decoded.
        reference = results["PyAV threaded decode, convert sampled"]
        ref_times = [t for t, _ in reference]
        print()
        print("| method | ms per sampled frame (wall) | CPU ms per sample | samples | frames against the exact rule |")
        print("|---|---:|---:|---:|---|")
        for name, (wall, cpu) in best.items():
            samples = results[name]
            times = [t for t, _ in samples]
            if len(times) != len(ref_times):
                verdict = f"NO: {len(times)} samples instead of {len(ref_times)}"
            else:
                lags = [a - b for a, b in zip(times, ref_times, strict=True)]
                if all(abs(lag) < 1e-3 for lag in lags):
                    diff = max(float(np.abs(a - b).mean()) for (_, a), (_, b) in zip(samples, reference, strict=True))
                    verdict = f"exact (pixel diff {diff:.2f})"
                else:
                    late = sum(1 for lag in lags if abs(lag) >= 1e-3)
                    verdict = f"{late} of {len(lags)} later, by {max(lags) * 1000:.0f} ms at most"
                    if min(lags) < -1e-3:
                        verdict += f", {-min(lags) * 1000:.0f} ms early at most"
            n = max(1, len(samples))
            print(f"| {name} | {wall / n * 1000:.1f} | {cpu / n * 1000:.1f} | {len(samples)} | {verdict} |")

        wall, _ = best["chosen: VideoFileSource.frames"]
        print()
        print(
            f"decode floor: {wall:.1f} s to sample {seconds:.0f} s of video at {args.fps:g} fps with the chosen "
            f"method ({seconds / wall:.1f}x real time)"
        )


if __name__ == "__main__":
    main()
