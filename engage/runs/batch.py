"""Batch analysis: many video files in parallel, on this machine's cores or on a Dask cluster.

Every file is one job. The parent expands paths/globs/folders, probes each file (duration, readable?),
hashes it (content hash: a file analysed before under any name is skipped, a partial one is redone),
and hands jobs to worker processes. Each worker loads the detector and classifier once and keeps them.

Two ways results reach the database:
- one writer (SQLite, which allows one): workers stream each finished minute back to the parent over a
  queue and the parent commits it at once, so a crash loses at most the open minute of each video;
- direct (a server database such as PostgreSQL): workers write their sessions themselves.

The local pool (``ProcessPoolExecutor``) and a Dask cluster run the same job function (``run_job``); only
the transport differs (a multiprocessing queue vs a ``distributed.Queue`` on the scheduler).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engage.config import Config
from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.paths import file_sha256
from engage.store.database import Store

log = logging.getLogger(__name__)

# Suffixes picked up from folders and globs (a file named explicitly is always taken).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".3gp"}
)
NAME_FIELDS: dict[str, str] = {
    "stem": "file name without suffix (lecture-03)",
    "name": "file name (lecture-03.mp4)",
    "suffix": "suffix without the dot (mp4)",
    "parent": "name of the folder holding the file (week1)",
    "folder": "full path of that folder",
    "index": "1-based position of the file in the batch",
    "date": "file modification date, YYYY-MM-DD",
}
DEFAULT_NAME_PATTERN = "{stem}"
PROGRESS_EVERY_S = 1.0  # workers report media time at most this often per file
MAX_POOL_RESTARTS = 5  # a local worker process that dies (crashing decoder, out of memory) is replaced this often

# Statuses of a file in a batch (a session's own status is one of store.STATUSES).
FAILED_STATUSES = ("failed", "partial")


# ------------------------------------------------------------------------------------------ inputs


def expand_inputs(specs: Sequence[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files named by ``specs`` (files, folders searched recursively, globs), in order, without repeats.

    Returns (files, problems): a spec that names nothing gives (spec, one line) in ``problems``.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def take(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for spec in specs:
        text = os.path.expanduser(str(spec))
        path = Path(text)
        if path.is_file():
            take(path)
        elif path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
            if not found:
                problems.append((text, f"no video files in folder {path}"))
            for p in found:
                take(p)
        elif glob.has_magic(text):
            found = sorted(Path(p) for p in glob.glob(text, recursive=True))
            videos = [p for p in found if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
            if not videos:
                problems.append((text, f"no video files match {text}"))
            for p in videos:
                take(p)
        else:
            problems.append((text, f"no such file or folder: {text}"))
    return files, problems


def check_name_pattern(pattern: str) -> None:
    """Raise a one-line EngageError if ``pattern`` uses a field that does not exist or is malformed."""
    try:
        pattern.format(**{k: "x" for k in NAME_FIELDS} | {"index": 1})
    except KeyError as exc:
        raise EngageError(
            f"unknown field {{{exc.args[0]}}} in the name pattern {pattern!r}; use {', '.join(NAME_FIELDS)}"
        ) from None
    except (ValueError, IndexError) as exc:
        raise EngageError(f"bad name pattern {pattern!r}: {exc}") from None


def session_name(path: Path, index: int, pattern: str = DEFAULT_NAME_PATTERN) -> str:
    """The session name for a file: ``pattern`` with the NAME_FIELDS filled in."""
    try:
        mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d")
    except OSError:
        mtime = ""
    fields = {
        "stem": path.stem,
        "name": path.name,
        "suffix": path.suffix.lstrip("."),
        "parent": path.resolve().parent.name,
        "folder": str(path.resolve().parent),
        "index": index,
        "date": mtime,
    }
    return pattern.format(**fields)


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Job:
    """One file to analyse (small and picklable: it travels to the worker)."""

    id: int
    path: str
    name: str
    content_hash: str
    duration: float | None


@dataclass
class FileResult:
    """What became of one file of the batch."""

    path: str
    name: str
    status: str  # completed, skipped (done before), duplicate (same content earlier in the batch), partial, failed
    session_id: int | None = None
    minutes: int = 0
    frames: int = 0
    faces: int = 0
    media_s: float | None = None
    seconds: float = 0.0  # wall time of the analysis
    error: str | None = None  # one line, for partial and failed files
    note: str | None = None
    worker_rss_mb: float | None = None  # peak resident memory of the worker process so far

    @property
    def ok(self) -> bool:
        return self.status not in FAILED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchReport:
    results: list[FileResult]
    seconds: float
    workers: int
    executor: str  # "local" or the Dask scheduler address
    direct_writes: bool

    @property
    def failures(self) -> list[FileResult]:
        return [r for r in self.results if not r.ok]

    @property
    def media_s(self) -> float:
        return sum(r.media_s or 0.0 for r in self.results if r.status in ("completed", "partial"))


class BatchObserver:
    """Hooks the batch calls from the parent process (the CLI draws its progress from them)."""

    def planned(self, files: int, media_s: float) -> None: ...

    def started(self, job: Job) -> None: ...

    def progress(self, job: Job, media_s: float) -> None: ...

    def finished(self, result: FileResult, duration: float | None) -> None: ...


# ------------------------------------------------------------------------------------- worker side


@dataclass
class _WorkerState:
    key: tuple[str, str | None]
    config: Config
    analyzer: Any  # engage.runs.analyze.FrameAnalyzer
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
        from engage.runs.analyze import FrameAnalyzer

        _keep_frame_buffers_on_the_heap()
        from engage.store.database import open_store

        config = Config.model_validate_json(config_json, strict=False)
        import cv2

        # OpenCV's pool would take every core in each worker; the classifier's share is this worker's share.
        cv2.setNumThreads(config.classifier.threads)
        store = open_store(db_url) if db_url else None
        state = _WorkerState((config_json, db_url), config, FrameAnalyzer(config), store)
        _worker.state = state
    return state


def _init_local_worker(events: Any, config_json: str, db_url: str | None) -> None:
    """ProcessPoolExecutor initializer: keep the event queue and load the model once for this process."""
    global _local_queue, _parent_pid
    # Ctrl-C goes to the whole process group; the parent decides what to keep and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _local_queue = events
    _parent_pid = os.getppid()
    _state(config_json, db_url)


_dask_queues: dict[str, Any] = {}


def _emitter(queue_name: str | None) -> Callable[[tuple], None]:
    if queue_name is None:
        assert _local_queue is not None, "run_job without a queue outside the local pool"
        return _local_queue.put
    events = _dask_queues.get(queue_name)
    if events is None:
        from distributed import Queue

        events = _dask_queues[queue_name] = Queue(queue_name)
    return events.put


def run_job(job: Job, config_json: str, db_url: str | None, queue_name: str | None) -> str:
    """Analyse one file on a worker; events go to the parent; returns the file's final status.

    Events: ("start", id, session_id|None, duration), ("progress", id, media_s), ("minute", id, MinuteMetrics)
    (one-writer mode only), ("end", id, status, detail, media_s, frames, faces, minutes, seconds, peak_rss_mb).
    With ``db_url`` the worker writes the session itself (server database); without, the parent writes.
    """
    from engage.runs.analyze import make_aggregator
    from engage.sources.media import SourceError, VideoFileSource
    from engage.sources.prefetch import prefetch

    emit = _emitter(queue_name)
    state = _state(config_json, db_url)
    config, analyzer, store = state.config, state.analyzer, state.store
    started = time.perf_counter()
    try:
        source = VideoFileSource(job.path)
    except SourceError as exc:
        emit(("end", job.id, "failed", str(exc), None, 0, 0, 0, time.perf_counter() - started, _peak_rss_mb()))
        return "failed"
    session_id: int | None = None
    frames = faces = minutes = 0
    last_timestamp = 0.0
    status, detail = "completed", None
    with source:
        if store is not None:
            session_id = store.create_session(
                name=job.name,
                source=source.uri,
                kind="video",
                sample_fps=config.sample_fps,
                model=analyzer.classifier.name,
                config=config.model_dump(mode="json"),
                content_hash=job.content_hash,
            )
        emit(("start", job.id, session_id, source.duration))
        aggregator = make_aggregator(config)

        def commit(metrics: Any) -> None:
            nonlocal minutes
            if metrics is None:
                return
            if store is not None:
                assert session_id is not None
                store.add_minute(session_id, metrics)
            else:
                emit(("minute", job.id, asdict(metrics)))  # plain data: Dask queues carry msgpack
            minutes += 1

        next_report = time.monotonic() + PROGRESS_EVERY_S
        try:
            for frame in prefetch(source.frames(config.sample_fps)):
                result = analyzer.analyze(frame)
                frames += 1
                faces += len(result.boxes)
                last_timestamp = frame.timestamp
                for closed in aggregator.add(result):
                    commit(closed)
                if time.monotonic() >= next_report:
                    next_report = time.monotonic() + PROGRESS_EVERY_S
                    if _parent_pid is not None and os.getppid() != _parent_pid:
                        # Orphaned (the batch was killed): nobody reads the queue, so do not wait to flush it.
                        _local_queue.cancel_join_thread()
                        os._exit(1)
                    emit(("progress", job.id, frame.timestamp))
            commit(aggregator.finish(source.sampling_end(config.sample_fps)))
            if frames == 0:
                status, detail = "failed", "no frame could be decoded"
        except SourceError as exc:
            commit(aggregator.finish())
            status, detail = "partial", f"{exc} (kept {minutes} finished minute{'s' * (minutes != 1)})"
        except Exception as exc:  # a bug or a decoder crash on one file must not stop the batch
            commit(aggregator.finish())
            status, detail = "partial", f"{type(exc).__name__}: {exc} (kept {minutes} finished minutes)"
        media = (source.duration or last_timestamp) if status == "completed" else last_timestamp
        if store is not None:
            assert session_id is not None
            store.finish_session(session_id, status, detail=detail, media_duration_s=media)
    emit(("end", job.id, status, detail, media, frames, faces, minutes, time.perf_counter() - started, _peak_rss_mb()))
    return status


def _peak_rss_mb() -> float | None:
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


# ------------------------------------------------------------------------------------------ pools


class _LocalPool:
    """Worker processes on this machine (spawned, so no threads or state leak in from the parent)."""

    queued = 1  # one job waits in the pool's call queue, so a worker that finishes starts the next at once

    def __init__(self, workers: int, config_json: str, db_url: str | None) -> None:
        self.workers = workers
        self.address = "local"
        self._args = (config_json, db_url)
        self._ctx = multiprocessing.get_context("spawn")
        self._events = self._ctx.Queue()
        self._start()

    def _start(self) -> None:
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=self._ctx, initializer=_init_local_worker, initargs=(self._events, *self._args)
        )

    def submit(self, job: Job) -> Any:
        return self._executor.submit(run_job, job, *self._args, None)

    def get(self, timeout: float) -> tuple | None:
        try:
            return self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
        except queue.Empty:
            return None

    def restart(self) -> None:
        self.close(cancel=True)
        self._start()

    def close(self, cancel: bool = False) -> None:
        if cancel:
            # Stop running analyses now (the parent has marked what they left as partial).
            for process in list(getattr(self._executor, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=cancel)


def _dask_client(cluster: Any) -> Any:
    """A ``distributed.Client`` for a scheduler address (or the one given)."""
    from distributed import Client

    if isinstance(cluster, Client):
        return cluster
    try:
        return Client(str(cluster), timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise EngageError(f"cannot reach the Dask scheduler at {cluster}: {exc}") from None


def _dask_cores_per_thread(client: Any) -> int:
    """Cores per Dask worker thread on the most crowded host, so each task's classifier gets its share."""
    workers = client.scheduler_info().get("workers", {})
    cores = client.run(os.cpu_count)
    per_host: dict[str, tuple[int, int]] = {}  # host -> (cores, threads)
    for address, info in workers.items():
        host = info.get("host", address)
        threads = per_host.get(host, (0, 0))[1] + int(info.get("nthreads", 1))
        per_host[host] = (int(cores.get(address) or 1), threads)
    return min((c // max(t, 1) for c, t in per_host.values()), default=1)


class _DaskPool:
    """Jobs on an existing Dask scheduler (``tcp://host:8786``) or on a ``distributed.Client`` given by the caller."""

    # No job waits ahead: Dask would pin it to one worker's queue, and a long video there leaves another idle.
    queued = 0

    def __init__(self, client: Any, own: bool, config_json: str, db_url: str | None) -> None:
        from distributed import Queue

        self.client, self._own = client, own
        self.address = self.client.scheduler.address
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._args = (config_json, db_url)
        self._queue_name = f"engage-batch-{uuid.uuid4().hex}"
        self._events = Queue(self._queue_name, client=self.client)
        self._futures: list[Any] = []
        self._buffer: deque[tuple] = deque()

    def submit(self, job: Job) -> Any:
        future = self.client.submit(
            run_job, job, *self._args, self._queue_name, pure=False, key=f"engage-{job.id}-{uuid.uuid4().hex[:8]}"
        )
        self._futures.append(future)
        return future

    def get(self, timeout: float) -> tuple | None:
        # batch=True returns what is there at once: a blocking get with a timeout logs an error on the scheduler.
        if not self._buffer:
            self._buffer.extend(self._events.get(batch=True))
        if not self._buffer and timeout > 0:
            time.sleep(timeout)
            self._buffer.extend(self._events.get(batch=True))
        return self._buffer.popleft() if self._buffer else None

    def restart(self) -> None:  # Dask reschedules work of lost workers itself
        pass

    def close(self, cancel: bool = False) -> None:
        if cancel and self._futures:
            with contextlib.suppress(Exception):
                self.client.cancel(self._futures)
        self._futures.clear()  # releases them, so the cluster does not keep their results
        if self._own:
            with contextlib.suppress(Exception):
                self.client.close()


# ------------------------------------------------------------------------------------------ parent


@dataclass
class _Flight:
    job: Job
    future: Any
    session_id: int | None = None
    started: bool = False
    end: tuple | None = None
    wall_start: float = field(default_factory=time.perf_counter)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def run_batch(
    specs: Sequence[str | Path],
    config: Config,
    store: Store,
    *,
    workers: int | None = None,
    cluster: Any = None,
    name_pattern: str = DEFAULT_NAME_PATTERN,
    direct_writes: bool | None = None,
    observer: BatchObserver | None = None,
    mirror: Any = None,
    stop: threading.Event | None = None,
) -> BatchReport:
    """Analyse every video named by ``specs`` into ``store``; one FileResult per file, failures included.

    ``cluster``: None for a local process pool of ``workers`` (default: the usable cores), else a Dask
    scheduler address or ``distributed.Client``. ``direct_writes`` (default: when the database is not
    SQLite) lets workers write their sessions themselves. ``mirror`` (a started engage.sheets.mirror.SheetsMirror)
    is woken after each finished session. A KeyboardInterrupt, or ``stop`` once set, stops the batch:
    finished files stay, the running ones are marked partial (redone by the next run), and
    KeyboardInterrupt is raised.
    """
    from engage.sources.media import SourceError, VideoFileSource
    from engage.vision.classifier import EmotionClassifier

    check_name_pattern(name_pattern)
    observer = observer or BatchObserver()
    wall_start = time.perf_counter()
    files, problems = expand_inputs(specs)
    results: list[FileResult] = [FileResult(spec, "", "failed", error=problem) for spec, problem in problems]
    if not files and not results:
        raise EngageError("no video files given")
    # The model is checked here, so a missing model is one error and not one per worker; its name goes in sessions.
    model_name = EmotionClassifier(config.classifier.model, threads=1).name
    if direct_writes is None:
        direct_writes = store.url.get_backend_name() != "sqlite"
    if direct_writes and store.url.get_backend_name() == "sqlite" and cluster is not None:
        raise EngageError("workers on a cluster cannot write to a SQLite file: use a server database URL")
    db_url = store.url.render_as_string(hide_password=False) if direct_writes else None

    # Probe every file first (cheap: the container header and one frame) for the overall media total.
    planned: list[tuple[Path, float | None]] = []
    for path in files:
        _raise_if_stopped(stop)
        try:
            with VideoFileSource(path) as source:
                planned.append((path, source.duration))
        except SourceError as exc:
            results.append(FileResult(str(path), "", "failed", error=str(exc)))
    observer.planned(len(files), sum(d or 0.0 for _, d in planned))
    for r in results:
        observer.finished(r, None)

    if cluster is None:
        count = workers or default_workers()
        config = _per_worker_threads(config, default_workers() // count)
        pool: _LocalPool | _DaskPool = _LocalPool(count, config.model_dump_json(), db_url)
    else:
        client = _dask_client(cluster)
        config = _per_worker_threads(config, _dask_cores_per_thread(client))
        pool = _DaskPool(client, cluster is not client, config.model_dump_json(), db_url)
    batch = _Batch(config, store, pool, model_name, direct_writes, observer, mirror, name_pattern)
    try:
        batch.run(planned, files, stop)
        pool.close()
    except BaseException:
        batch.abort()
        raise
    order = {str(p): i for i, p in enumerate(files)}
    results.extend(batch.results)
    results.sort(key=lambda r: order.get(r.path, -1))
    return BatchReport(results, time.perf_counter() - wall_start, pool.workers, pool.address, direct_writes)


def _raise_if_stopped(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt  # a requested stop ends the batch the way Ctrl-C does


def _per_worker_threads(config: Config, cores_each: int) -> Config:
    """Share the cores between workers: each classifier gets its share of cores (at most what is configured)."""
    threads = max(1, min(config.classifier.threads, cores_each))
    return config.model_copy(update={"classifier": config.classifier.model_copy(update={"threads": threads})})


class _Batch:
    """The parent's side: dispatch jobs, apply worker events, finish sessions, collect results."""

    def __init__(
        self,
        config: Config,
        store: Store,
        pool: _LocalPool | _DaskPool,
        model_name: str,
        direct: bool,
        observer: BatchObserver,
        mirror: Any,
        name_pattern: str,
    ) -> None:
        self.config, self.store, self.pool = config, store, pool
        self.model_name, self.direct, self.observer, self.mirror = model_name, direct, observer, mirror
        self.name_pattern = name_pattern
        self.results: list[FileResult] = []
        self.flights: dict[int, _Flight] = {}
        self.seen_hashes: dict[str, str] = {}
        self.aborted = False
        self.restarts = 0
        self._config_dict = json_safe(config)

    def run(self, planned: list[tuple[Path, float | None]], files: list[Path], stop: threading.Event | None) -> None:
        index = {p: i + 1 for i, p in enumerate(files)}
        pending = deque(planned)
        retry: deque[Job] = deque()
        while pending or retry or self.flights:
            _raise_if_stopped(stop)
            while (retry or pending) and len(self.flights) < self.pool.workers + self.pool.queued:
                if retry:
                    job = retry.popleft()
                else:
                    path, duration = pending.popleft()
                    job = self._prepare(index[path], path, duration)
                if job is not None:
                    self.flights[job.id] = _Flight(job, self.pool.submit(job))
            event = self.pool.get(0.2)
            while event is not None:
                self._apply(event)
                event = self.pool.get(0)
            broken = False
            for flight in [f for f in self.flights.values() if f.future.done()]:
                error = None if flight.future.cancelled() else flight.future.exception()
                if error is None and flight.end is None:
                    continue  # its last events are still on the way
                if isinstance(error, BrokenProcessPool) and not flight.started:
                    # Another file's worker died and took this queued job with it: run it again.
                    broken = True
                    del self.flights[flight.job.id]
                    retry.append(flight.job)
                    continue
                broken |= isinstance(error, BrokenProcessPool)
                self._finish(flight, error)
            if broken:
                self.restarts += 1
                if self.restarts > MAX_POOL_RESTARTS:
                    raise EngageError(f"worker processes keep dying ({self.restarts} times); stopping the batch")
                self.pool.restart()

    def _prepare(self, job_id: int, path: Path, duration: float | None) -> Job | None:
        """Hash the file and decide: skip (done before / duplicate), redo (partial before) or run."""
        name = session_name(path, job_id, self.name_pattern)
        try:
            content_hash = file_sha256(path)
        except OSError as exc:
            self._result(FileResult(str(path), name, "failed", error=f"cannot read {path}: {exc.strerror}"), duration)
            return None
        if content_hash in self.seen_hashes:
            first = self.seen_hashes[content_hash]
            self._result(FileResult(str(path), name, "duplicate", note=f"same content as {first}"), duration)
            return None
        self.seen_hashes[content_hash] = str(path)
        existing = self.store.find_by_hash(content_hash)
        if existing is not None and existing.status == "completed":
            note = f"analysed before as session #{existing.id} '{existing.name}'"
            self._result(
                FileResult(
                    str(path),
                    existing.name,
                    "skipped",
                    session_id=existing.id,
                    minutes=existing.minutes,
                    media_s=existing.media_duration_s,
                    note=note,
                ),
                duration,
            )
            return None
        if existing is not None and existing.status == "running" and not self.store.mark_interrupted([existing.id]):
            self._result(
                FileResult(str(path), name, "failed", error=f"being analysed now as session #{existing.id}"), duration
            )
            return None
        if existing is not None:
            self.store.delete_session(existing.id)  # partial, failed or interrupted: redo from the start
        return Job(job_id, str(path), name, content_hash, duration)

    def _apply(self, event: tuple) -> None:
        kind, job_id = event[0], event[1]
        flight = self.flights.get(job_id)
        if flight is None:
            return  # a late event of a file already finished (e.g. after a restart)
        if kind == "start":
            flight.started = True
            flight.session_id = event[2]
            if not self.direct:
                flight.session_id = self.store.create_session(
                    name=flight.job.name,
                    source=flight.job.path,
                    kind="video",
                    sample_fps=self.config.sample_fps,
                    model=self.model_name,
                    config=self._config_dict,
                    content_hash=flight.job.content_hash,
                )
            self.observer.started(flight.job)
        elif kind == "minute":
            assert flight.session_id is not None
            self.store.add_minute(flight.session_id, MinuteMetrics(**event[2]))
        elif kind == "progress":
            self.observer.progress(flight.job, event[2])
        elif kind == "end":
            flight.end = event
            if not self.direct and flight.session_id is not None:
                _, _, status, detail, media, *_ = event
                self.store.finish_session(flight.session_id, status, detail=detail, media_duration_s=media)

    def _finish(self, flight: _Flight, error: BaseException | None) -> None:
        del self.flights[flight.job.id]
        job = flight.job
        if flight.end is not None:
            _, _, status, detail, media, frames, faces, minutes, seconds, rss = flight.end
            result = FileResult(
                job.path, job.name, status, flight.session_id, minutes, frames, faces, media, round(seconds, 2)
            )
            result.worker_rss_mb = rss
            if status in FAILED_STATUSES:
                result.error = detail
            elif faces == 0:
                result.note = "no faces found"
        else:
            # The worker died or the task failed without telling us how far it got.
            reason = _one_line(f"worker failed: {type(error).__name__}: {error}" if error else "worker failed")
            status = "partial" if flight.started else "failed"
            self._close_session(flight, reason)
            result = FileResult(job.path, job.name, status, flight.session_id, error=reason)
            result.seconds = round(time.perf_counter() - flight.wall_start, 2)
            if flight.session_id is not None:
                with contextlib.suppress(EngageError):
                    result.minutes = self.store.get_session(flight.session_id).minutes
        self._result(result, job.duration)

    def _close_session(self, flight: _Flight, reason: str) -> None:
        if flight.session_id is None:
            return
        with contextlib.suppress(EngageError):
            if self.store.get_session(flight.session_id).status == "running":
                self.store.finish_session(flight.session_id, "partial", detail=reason)

    def _result(self, result: FileResult, duration: float | None) -> None:
        self.results.append(result)
        if self.mirror is not None and result.session_id is not None and result.status in ("completed", "partial"):
            try:
                self.mirror.notify(result.session_id)
            except Exception as exc:  # Sheets trouble never stops the batch; the outbox retries
                log.warning("Google Sheets mirror: %s", exc)
        self.observer.finished(result, duration)

    def abort(self) -> None:
        """Stop now: keep every minute already received, mark running files partial, stop the workers."""
        self.aborted = True
        with contextlib.suppress(Exception):
            self.pool.close(cancel=True)
        with contextlib.suppress(Exception):
            event = self.pool.get(0.05)
            while event is not None:
                self._apply(event)
                event = self.pool.get(0)
        for flight in list(self.flights.values()):
            with contextlib.suppress(Exception):
                self._close_session(flight, "batch stopped before the end of the source")
            if flight.started:
                self.results.append(
                    FileResult(
                        flight.job.path,
                        flight.job.name,
                        "partial",
                        flight.session_id,
                        error="batch stopped before the end of the source",
                    )
                )


def json_safe(config: Config) -> dict[str, Any]:
    return config.model_dump(mode="json")


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
