"""`engage batch` throughput in media-hours per wall-hour, local pool vs Dask, vs the decode floor and `fer`.

    python benchmarks/batch_speed.py [--clips 4] [--minutes 2] [--faces 4] [--long-minutes 20]
                                     [--parts floor,one,two,dask,fer,memory] [--clips-dir DIR] [--repeat 3]

1. Builds ``--clips`` 720p30 H.264 clips of real faces (tests/clips.py; x264 "veryfast" with grain so decoding
   costs like a real recording; the clips differ in length so they cannot be deduplicated by content).
2. Times, each into a fresh SQLite database, at 1 frame per media second:
   - the decode floor: sampling every clip at 1 fps and nothing else, one after the other in one process
     (PyAV already decodes on all cores);
   - `engage batch` with a local pool of 1 and of 2 worker processes, with the CPU time they used (the cores
     one worker keeps busy, and media-hours per CPU-hour: the throughput per core). The old target of 1.7x for
     two workers is retired: on two cores one worker (decoding in one thread, detecting and classifying in
     another) already keeps most of both busy. From these, an estimate for N workers on M machines;
   - the same batch through a Dask ``LocalCluster`` of 2 worker processes x 1 thread, started beforehand
     as a standing cluster would be and stopped before the other modes run (target: within 10% of the
     local pool's time);
   - the `fer` package's ``Video.analyze`` on the same clips at the same rate (every 30th frame), if installed
     (`pip install --no-deps fer`).
   Wall times include starting the workers and loading the model in each. ``--repeat N`` runs these N times
   interleaved and reports medians (this machine's timings vary by 20-30% from run to run).
3. Peak RSS of a batch worker on a 1-minute and a ``--long-minutes`` clip (each in a fresh 1-worker pool;
   the long clip at 2 frames/s of video to keep its encoding quick, sampling stays 1 fps). Target: flat.
Run on an idle machine for figures to report; the load average is printed with the results.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402

sys.path.insert(0, str(common.REPO / "tests"))
sys.path.insert(0, str(common.REPO / "benchmarks"))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def decode_floor(paths: list[Path]) -> float:
    from engage.sources.media import VideoFileSource

    start = time.perf_counter()
    for path in paths:
        with VideoFileSource(path) as source:
            for _ in source.frames(1.0):
                pass
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished worker processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def batch(paths: list[Path], db: Path, workers: int | None = None, cluster=None):
    from engage.config import load_config
    from engage.runs.batch import run_batch
    from engage.store.database import open_store

    report = run_batch(
        [str(p) for p in paths], load_config(environ={}), open_store(db), workers=workers, cluster=cluster
    )
    bad = [r for r in report.results if r.status != "completed"]
    assert not bad, bad
    return report


def local_batch(paths: list[Path], db: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU seconds of a batch on a local pool (its workers have exited when it returns: counted)."""
    cpu = cpu_seconds()
    report = batch(paths, db, workers=workers)
    return report.seconds, cpu_seconds() - cpu


def scaling(media: float, one_wall: float, one_cpu: float, size_mb: float) -> None:
    """What N workers on M machines would give, from one worker's wall and CPU time on this machine."""
    per_worker = media / one_wall  # media-h per wall-h of one worker
    per_core = media / one_cpu  # media-h per CPU-h
    busy = one_cpu / one_wall
    print(
        f"throughput per core: {per_core:.1f} media-h per CPU-h (start-up and model loading included); one worker "
        f"keeps {busy:.2f} cores busy and reads {size_mb / one_wall:.1f} MB/s of these clips"
    )
    print("estimate, N workers (1 thread each) spread evenly on M machines of C cores: M x min(N/M x one worker,")
    print("C x per core) media-h per wall-h (enough videos for every worker, and storage that keeps up):")
    for machines, cores, workers in ((1, 2, 1), (1, 2, 2), (1, 8, 4), (1, 8, 8), (4, 8, 16), (4, 8, 32), (10, 16, 80)):
        each = workers / machines
        total = machines * min(each * per_worker, cores * per_core)
        print(f"  M={machines:<3} C={cores:<3} N={workers:<3} -> {total:7.0f} media-h per wall-h")


def dask_batch(paths: list[Path], db: Path) -> float:
    """The batch on a Dask LocalCluster started beforehand, as a standing cluster would be (not timed).

    The cluster is stopped before the other modes run: its idle workers alone slow them by a few percent here.
    """
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        return batch(paths, db, cluster=client).seconds


def fer_total(paths: list[Path]) -> float | None:
    from pipeline_speed import fer_analysis

    total = 0.0
    for path in paths:
        result = fer_analysis(path, every_nth_frame=30)  # the clips are 30 fps: 1 fps like engage
        if result is None:
            return None
        total += result[0]
    return total


def rate(media_s: float, wall_s: float) -> str:
    return f"{media_s / wall_s:6.1f} media-h per wall-h ({wall_s:6.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the first clip; each next is 10 s longer")
    parser.add_argument("--faces", type=int, default=4)
    parser.add_argument("--long-minutes", type=float, default=20.0)
    parser.add_argument("--clips-dir", type=Path, help="make the clips here (reused by a rerun) instead of a temp dir")
    parser.add_argument("--parts", default="floor,one,two,dask,fer,memory", help="which measurements, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="time floor/one/two/dask this many times, interleaved")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    from clips import make_clip

    logging.disable(logging.INFO)  # fer and alembic log every step

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        started = time.perf_counter()
        where = args.clips_dir or tmp
        where.mkdir(parents=True, exist_ok=True)
        paths = [
            (where / f"lecture-{i}.mp4")
            if (where / f"lecture-{i}.mp4").is_file()
            else make_clip(
                where / f"lecture-{i}.mp4",
                args.minutes * 60 + 10 * i,
                fps=30,
                size=(1280, 720),
                faces=args.faces,
                preset="veryfast",
                noise=12,
                crf=20,
            )
            for i in range(args.clips)
        ]
        media = sum(args.minutes * 60 + 10 * i for i in range(args.clips))
        print(
            f"{args.clips} clips, {media / 60:.1f} media minutes of 1280x720 30 fps H.264 with {args.faces} real "
            f"faces (encoded in {time.perf_counter() - started:.0f} s); {os.cpu_count()} cores; {load()}"
        )
        times: dict[str, list[float]] = {"floor": [], "one": [], "two": [], "dask": []}
        cpus: dict[str, list[float]] = {"one": [], "two": []}
        for round_ in range(args.repeat):  # interleaved, so a burst of load hits every mode alike
            if "floor" in parts:
                times["floor"].append(decode_floor(paths))
            for mode, workers in (("one", 1), ("two", 2)):
                if mode in parts:
                    wall, cpu = local_batch(paths, tmp / f"{mode}{round_}.db", workers)
                    times[mode].append(wall)
                    cpus[mode].append(cpu)
            if "dask" in parts:
                times["dask"].append(dask_batch(paths, tmp / f"dask{round_}.db"))
            if args.repeat > 1:
                done = "  ".join(f"{mode} {t[-1]:.1f} s" for mode, t in times.items() if t)
                print(f"  round {round_ + 1}: {done}  {load()}")
        floor, one, two, dask = (statistics.median(t) if t else None for t in times.values())
        runs = f", median of {args.repeat} runs" if args.repeat > 1 else ""
        if floor:
            print(f"decode floor (sampling alone, 1 fps, serial):   {rate(media, floor)}{runs}")
        one_cpu, two_cpu = (statistics.median(c) if c else None for c in cpus.values())
        if one:
            print(f"engage batch, local pool, 1 worker:            {rate(media, one)}{runs}  CPU {one_cpu:.1f} s")
        if two:
            print(f"engage batch, local pool, 2 workers:           {rate(media, two)}{runs}  CPU {two_cpu:.1f} s")
            if one:
                print(f"  -> 2 workers = {one / two:.2f}x one worker")
            if floor:
                print(f"  -> 2 workers take {two / floor:.2f}x the decode floor's time")
        if dask:
            print(f"engage batch, Dask LocalCluster, 2 workers:    {rate(media, dask)}{runs}")
            if two:
                print(f"  -> Dask vs local pool: {(dask / two - 1) * 100:+.1f}% wall time (target < +10%)")
        if one:
            scaling(media, one, one_cpu, sum(p.stat().st_size for p in paths) / 1e6)
        print(load())
        if "fer" in parts:
            fer = fer_total(paths)
            if fer is None:
                print("fer Video.analyze: not run (`pip install --no-deps fer` to compare)")
            else:
                print(f"fer Video.analyze (1 fps, Haar, serial):       {rate(media, fer)}   {load()}")
                if two:
                    print(f"  -> engage batch with 2 workers is {fer / two:.1f}x faster")
        if "memory" in parts:
            short, long = tmp / "short.mp4", tmp / "long.mp4"
            make_clip(short, 60, fps=2, size=(1280, 720), faces=args.faces, preset="veryfast")
            make_clip(long, args.long_minutes * 60, fps=2, size=(1280, 720), faces=args.faces, preset="veryfast")
            short_mb = batch([short], tmp / "short.db", workers=1).results[0].worker_rss_mb
            long_mb = batch([long], tmp / "long.db", workers=1).results[0].worker_rss_mb
            print(
                f"peak RSS of a batch worker (1 fps, 1280x720, {args.faces} faces): 1-min video {short_mb:.0f} MB, "
                f"{args.long_minutes:g}-min video {long_mb:.0f} MB ({(long_mb / short_mb - 1) * 100:+.1f}%)"
            )


if __name__ == "__main__":
    main()
