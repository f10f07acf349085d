"""Batch analysis: many video files in parallel, on this machine's cores or on a Dask cluster.

Every file is one job. The parent expands paths/globs/folders (engage.runs.batch_inputs), probes each file
(duration, readable?), hashes it and claims it through the shared session lifecycle (engage.runs.session: a
file analysed before under any name is skipped, an unfinished one is redone, one being analysed by a live
process is left alone), and hands jobs to worker processes (engage.runs.batch_worker).

Two ways results reach the database:
- one writer (SQLite, which allows one): workers stream each finished minute back to the parent as typed
  messages and the parent commits it at once, so a crash loses at most the open minute of each video;
- direct (a server database such as PostgreSQL): workers write their sessions themselves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engage.config import Config
from engage.errors import EngageError, SessionBusy
from engage.paths import file_sha256
from engage.runs.batch_inputs import DEFAULT_NAME_PATTERN, check_name_pattern, expand_inputs, session_name
from engage.runs.batch_pools import DaskPool, LocalPool, Pool, dask_client, dask_cores_per_thread
from engage.runs.batch_worker import Ended, Job, MinuteClosed, Progressed, Started
from engage.runs.session import Outcome, SessionSpec, SessionWriter, claim_media, open_session
from engage.store.database import Store
from engage.store.schema import one_line
from engage.types import SessionListener

log = logging.getLogger(__name__)

MAX_POOL_RESTARTS = 5  # a local worker process that dies (crashing decoder, out of memory) is replaced this often

# Statuses of a file in a batch (a session's own status is one of store.STATUSES).
FAILED_STATUSES = ("failed", "partial")


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


@dataclass
class _Flight:
    job: Job
    future: Any
    session_id: int | None = None
    writer: SessionWriter | None = None  # one-writer mode: the parent writes the session
    started: bool = False
    end: Ended | None = None
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
    mirror: SessionListener | None = None,
    stop: threading.Event | None = None,
) -> BatchReport:
    """Analyse every video named by ``specs`` into ``store``; one FileResult per file, failures included.

    ``cluster``: None for a local process pool of ``workers`` (default: the usable cores), else a Dask
    scheduler address or ``distributed.Client``. ``direct_writes`` (default: when the database is not
    SQLite) lets workers write their sessions themselves. ``mirror`` (the Sheets mirror) is told after each
    finished session. A KeyboardInterrupt, or ``stop`` once set, stops the batch: finished files stay, the
    running ones are marked partial (redone by the next run), and KeyboardInterrupt is raised.
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

    pool: Pool
    if cluster is None:
        count = workers or default_workers()
        config = _per_worker_threads(config, default_workers() // count)
        pool = LocalPool(count, config.model_dump_json(), db_url)
    else:
        client = dask_client(cluster)
        config = _per_worker_threads(config, dask_cores_per_thread(client))
        pool = DaskPool(client, cluster is not client, config.model_dump_json(), db_url)
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
    """The parent's side: dispatch jobs, apply worker messages, finish sessions, collect results."""

    def __init__(
        self,
        config: Config,
        store: Store,
        pool: Pool,
        model_name: str,
        direct: bool,
        observer: BatchObserver,
        mirror: SessionListener | None,
        name_pattern: str,
    ) -> None:
        self.config, self.store, self.pool = config, store, pool
        self.model_name, self.direct, self.observer, self.mirror = model_name, direct, observer, mirror
        self.name_pattern = name_pattern
        self.results: list[FileResult] = []
        self.flights: dict[int, _Flight] = {}
        self.seen_hashes: dict[str, str] = {}
        self.restarts = 0

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
            self._drain(0.2)
            broken = False
            for flight in [f for f in self.flights.values() if f.future.done()]:
                error = None if flight.future.cancelled() else flight.future.exception()
                if error is None and flight.end is None:
                    continue  # its last messages are still on the way
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

    def _drain(self, timeout: float) -> None:
        message = self.pool.get(timeout)
        while message is not None:
            self._apply(message)
            message = self.pool.get(0)

    def _prepare(self, job_id: int, path: Path, duration: float | None) -> Job | None:
        """Hash the file and claim it: skip (done before / duplicate), redo (unfinished before) or run."""
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
        try:
            existing = claim_media(self.store, content_hash)
        except SessionBusy as exc:
            self._result(FileResult(str(path), name, "failed", error=str(exc)), duration)
            return None
        if existing is not None:
            note = f"analysed before as session #{existing.id} '{existing.name}'"
            skipped = FileResult(
                str(path), existing.name, "skipped", session_id=existing.id, minutes=existing.minutes,
                media_s=existing.media_duration_s, note=note,
            )  # fmt: skip
            self._result(skipped, duration)
            return None
        return Job(job_id, str(path), name, content_hash, duration)

    def _apply(self, message: Started | Progressed | MinuteClosed | Ended) -> None:
        flight = self.flights.get(message.job_id)
        if flight is None:
            return  # a late message of a file already finished (e.g. after a restart)
        if isinstance(message, Started):
            flight.started = True
            flight.session_id = message.session_id
            if not self.direct:
                job = flight.job
                spec = SessionSpec(
                    job.name, job.path, "video", self.config.sample_fps, self.model_name,
                    self.config.for_storage(), job.content_hash,
                )  # fmt: skip
                flight.writer = SessionWriter(self.store, open_session(self.store, spec, new=True))
                flight.session_id = flight.writer.session_id
            self.observer.started(flight.job)
        elif isinstance(message, MinuteClosed):
            assert flight.writer is not None
            flight.writer.add(message.minute)
        elif isinstance(message, Progressed):
            self.observer.progress(flight.job, message.media_s)
        elif isinstance(message, Ended):
            flight.end = message
            if flight.writer is not None:
                flight.writer.finish(message.outcome())

    def _finish(self, flight: _Flight, error: BaseException | None) -> None:
        del self.flights[flight.job.id]
        job, end = flight.job, flight.end
        if end is not None:
            result = FileResult(
                job.path, job.name, end.status, flight.session_id, end.minutes, end.frames, end.faces, end.media_s,
                round(end.seconds, 2), worker_rss_mb=end.peak_rss_mb,
            )  # fmt: skip
            if end.status in FAILED_STATUSES:
                result.error = end.detail
            elif end.faces == 0:
                result.note = "no faces found"
        else:
            # The worker died or the task failed without telling us how far it got.
            reason = one_line(f"worker failed: {type(error).__name__}: {error}" if error else "worker failed")
            status = "partial" if flight.started else "failed"
            self._close_session(flight, reason)
            result = FileResult(job.path, job.name, status, flight.session_id, error=reason)
            result.seconds = round(time.perf_counter() - flight.wall_start, 2)
            if flight.session_id is not None:
                with contextlib.suppress(EngageError):
                    result.minutes = self.store.get_session(flight.session_id).minutes
        self._result(result, job.duration)

    def _close_session(self, flight: _Flight, reason: str) -> None:
        """Mark a session its worker left unfinished partial (a direct-writing worker may have finished it)."""
        if flight.session_id is None:
            return
        with contextlib.suppress(EngageError):
            if self.store.get_session(flight.session_id).status == "running":
                writer = flight.writer or SessionWriter(self.store, flight.session_id)
                writer.finish(Outcome("partial", reason, 0.0))

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
        with contextlib.suppress(Exception):
            self._drain(0.05)
        with contextlib.suppress(Exception):
            self.pool.close(cancel=True)
        with contextlib.suppress(Exception):
            self._drain(0.05)
        for flight in list(self.flights.values()):
            with contextlib.suppress(Exception):
                self._close_session(flight, "batch stopped before the end of the source")
            if flight.started:
                self.results.append(
                    FileResult(
                        flight.job.path, flight.job.name, "partial", flight.session_id,
                        error="batch stopped before the end of the source",
                    )
                )  # fmt: skip
