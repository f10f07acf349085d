"""The worker side of a batch: one file per job through the shared session lifecycle, typed messages back.

A worker loads the detector and classifier once and keeps them. It tells the parent what happens in
typed messages (Started, Progressed, MinuteClosed, Ended), sent as plain dicts (``to_wire``): Dask queues
carry msgpack only. With a server database (direct writes) the worker writes its session itself; with
SQLite (one writer) it streams each closed minute to the parent, which commits it at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from engage.config import Config
from engage.errors import SourceError
from engage.minutes.aggregate import MinuteAggregator
from engage.minutes.metrics import MinuteMetrics
from engage.runs.session import Outcome, SessionSpec, SessionWriter, Tally, analyze_frames, open_session
from engage.store.database import Store

PROGRESS_EVERY_S = 1.0  # workers report media time at most this often per file


@dataclass(frozen=True)
class Job:
    """One file to analyse (small and picklable: it travels to the worker)."""

    id: int
    path: str
    name: str
    content_hash: str
    duration: float | None


@dataclass(frozen=True)
class Started:
    job_id: int
    session_id: int | None  # set when the worker writes the session itself
    duration: float | None
    pid: int  # the worker process, so that a stopped batch can end the analyses still running


@dataclass(frozen=True)
class Progressed:
    job_id: int
    media_s: float


@dataclass(frozen=True)
class MinuteClosed:
    job_id: int
    minute: MinuteMetrics


@dataclass(frozen=True)
class Ended:
    job_id: int
    status: str  # completed, partial or failed
    detail: str | None
    media_s: float | None
    frames: int
    faces: int
    minutes: int
    seconds: float
    peak_rss_mb: float | None

    def outcome(self) -> Outcome:
        return Outcome(self.status, self.detail, self.media_s or 0.0)


Message = Started | Progressed | MinuteClosed | Ended
_TYPES: dict[str, type] = {t.__name__: t for t in (Started, Progressed, MinuteClosed, Ended)}


def to_wire(message: Message) -> dict[str, Any]:
    """A message as msgpack-safe plain data (a minute as its flat row)."""
    data = {f.name: getattr(message, f.name) for f in fields(message)}
    if isinstance(message, MinuteClosed):
        data["minute"] = message.minute.to_row()
    return {"type": type(message).__name__, **data}


def from_wire(data: dict[str, Any]) -> Message:
    data = dict(data)
    kind = _TYPES[data.pop("type")]
    if kind is MinuteClosed:
        data["minute"] = MinuteMetrics.from_row(data["minute"])
    return kind(**{f.name: data[f.name] for f in fields(kind)})


@dataclass
class _WorkerState:
    key: tuple[str, str | None]
    config: Config
    analyzer: Any  # engage.vision.analyzer.FrameAnalyzer
    store: Store | None


_worker = threading.local()  # one detector + classifier per worker thread (LiteRT interpreters are not shared)
_local_queue: Any = None  # the local pool's event queue, inherited by each worker process
_parent_pid: int | None = None


def _keep_frame_buffers_on_the_heap() -> None:
    """Undo a fixed glibc trim threshold (Dask sets MALLOC_TRIM_THRESHOLD_ for its workers).

    A fixed threshold also fixes the mmap threshold at 128 KiB, so every frame-sized array becomes an mmap and
    munmap with fresh page faults: measured here, batch work ran ~35% slower. Allocations of up to 32 MiB go back
    on the heap, as glibc's default dynamic threshold would have it; the worker's memory stays flat.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    import ctypes
    import ctypes.util

    m_trim_threshold, m_mmap_threshold = -1, -3  # from malloc.h
    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(m_mmap_threshold, 32 * 2**20)
        libc.mallopt(m_trim_threshold, 64 * 2**20)


def _state(config_json: str, db_url: str | None) -> _WorkerState:
    state: _WorkerState | None = getattr(_worker, "state", None)
    if state is None or state.key != (config_json, db_url):
        import cv2

        from engage.store.database import open_store
        from engage.vision.analyzer import FrameAnalyzer

        _keep_frame_buffers_on_the_heap()
        config = Config.model_validate_json(config_json, strict=False)
        # OpenCV's pool would take every core in each worker; the classifier's share is this worker's share.
        cv2.setNumThreads(config.classifier.threads)
        store = open_store(db_url) if db_url else None
        state = _WorkerState((config_json, db_url), config, FrameAnalyzer(config), store)
        _worker.state = state
    return state


def init_local_worker(events: Any, config_json: str, db_url: str | None) -> None:
    """ProcessPoolExecutor initializer: keep the event queue and load the model once for this process."""
    global _local_queue, _parent_pid
    # Ctrl-C goes to the whole process group; the parent decides what to keep and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _local_queue = events
    _parent_pid = os.getppid()
    _state(config_json, db_url)


_dask_queues: dict[str, Any] = {}


def _emitter(queue_name: str | None) -> Callable[[Message], None]:
    if queue_name is None:
        assert _local_queue is not None, "run_job without a queue outside the local pool"
        put = _local_queue.put
    else:
        events = _dask_queues.get(queue_name)
        if events is None:
            from distributed import Queue

            events = _dask_queues[queue_name] = Queue(queue_name)
        put = events.put
    return lambda message: put(to_wire(message))


def _exit_if_orphaned() -> None:
    if _parent_pid is not None and os.getppid() != _parent_pid:
        # Orphaned (the batch was killed): nobody reads the queue, so do not wait to flush it.
        _local_queue.cancel_join_thread()
        os._exit(1)


def run_job(job: Job, config_json: str, db_url: str | None, queue_name: str | None) -> str:
    """Analyse one file on a worker; messages go to the parent; returns the file's final status.

    The parent has already claimed the media (engage.runs.session.claim_media) and, without ``db_url``,
    owns the session: it creates it on Started and commits each MinuteClosed.
    """
    from engage.sources.media import VideoFileSource
    from engage.sources.prefetch import prefetch

    emit = _emitter(queue_name)
    state = _state(config_json, db_url)
    config, analyzer, store = state.config, state.analyzer, state.store
    started = time.perf_counter()

    def ended(outcome: Outcome, tally: Tally, media_s: float | None) -> str:
        seconds = time.perf_counter() - started
        emit(
            Ended(
                job.id, outcome.status, outcome.detail, media_s, tally.frames, tally.faces, tally.minutes, seconds,
                peak_rss_mb(),
            )
        )  # fmt: skip
        return outcome.status

    try:
        source = VideoFileSource(job.path)
    except SourceError as exc:
        return ended(Outcome("failed", str(exc), 0.0), Tally(), None)
    tally = Tally()
    with source:
        writer = None
        if store is not None:
            spec = SessionSpec(
                job.name, source.uri, "video", config.sample_fps, analyzer.classifier.name,
                config.for_storage(), job.content_hash,
            )  # fmt: skip
            writer = SessionWriter(store, open_session(store, spec, new=True))
        emit(Started(job.id, writer.session_id if writer else None, source.duration, os.getpid()))
        next_report = time.monotonic() + PROGRESS_EVERY_S

        def on_frame(frame, result) -> None:
            nonlocal next_report
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + PROGRESS_EVERY_S
                _exit_if_orphaned()
                emit(Progressed(job.id, frame.timestamp))

        outcome = analyze_frames(
            prefetch(source.frames(config.sample_fps)),
            analyzer.for_session(),
            MinuteAggregator.from_config(config),
            writer.add if writer else lambda minute: emit(MinuteClosed(job.id, minute)),
            tally,
            end_of_media=lambda: source.sampling_end(config.sample_fps),
            duration=lambda: source.duration,
            on_frame=on_frame,
        )
        if writer is not None:
            writer.finish(outcome)
    return ended(outcome, tally, outcome.media_s)


def peak_rss_mb() -> float | None:
    # VmHWM is this process image's own peak; ru_maxrss would include the parent's from before fork + exec.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
