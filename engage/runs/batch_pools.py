"""Where batch jobs run: worker processes on this machine, or an existing Dask cluster.

Both run the same job function (engage.runs.batch_worker.run_job); only the transport of the workers'
messages differs (a multiprocessing queue vs a ``distributed.Queue`` on the scheduler).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import time
import uuid
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from engage.errors import EngageError
from engage.runs.batch_worker import Job, Message, Started, from_wire, init_local_worker, run_job


class Pool(Protocol):
    workers: int
    queued: int  # jobs that may wait ahead in the pool besides one per worker
    address: str

    def submit(self, job: Job) -> Any: ...

    def get(self, timeout: float) -> Message | None: ...

    def restart(self) -> None: ...

    def close(self, cancel: bool = False) -> None: ...


class LocalPool:
    """Worker processes on this machine (spawned, so no threads or state leak in from the parent)."""

    queued = 1  # one job waits in the pool's call queue, so a worker that finishes starts the next at once

    def __init__(self, workers: int, config_json: str, db_url: str | None) -> None:
        self.workers = workers
        self.address = "local"
        self._args = (config_json, db_url)
        self._ctx = multiprocessing.get_context("spawn")
        self._events = self._ctx.Queue()
        self._worker_pids: set[int] = set()  # from the workers' Started messages
        self._start()

    def _start(self) -> None:
        self._executor = ProcessPoolExecutor(
            self.workers, mp_context=self._ctx, initializer=init_local_worker, initargs=(self._events, *self._args)
        )

    def submit(self, job: Job) -> Any:
        return self._executor.submit(run_job, job, *self._args, None)

    def get(self, timeout: float) -> Message | None:
        try:
            data = self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait()
        except queue.Empty:
            return None
        message = from_wire(data)
        if isinstance(message, Started):
            self._worker_pids.add(message.pid)
        return message

    def restart(self) -> None:
        self.close(cancel=True)
        self._start()

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down; ``cancel`` also ends the analyses still running."""
        if cancel:
            # The parent has marked what they left as partial. Workers said their pids in their Started messages.
            for pid in self._worker_pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)
            self._worker_pids.clear()
        self._executor.shutdown(wait=True, cancel_futures=cancel)


def dask_client(cluster: Any) -> Any:
    """A ``distributed.Client`` for a scheduler address (or the one given)."""
    from distributed import Client

    if isinstance(cluster, Client):
        return cluster
    try:
        return Client(str(cluster), timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise EngageError(f"cannot reach the Dask scheduler at {cluster}: {exc}") from None


def dask_cores_per_thread(client: Any) -> int:
    """Cores per Dask worker thread on the most crowded host, so each task's classifier gets its share."""
    workers = client.scheduler_info().get("workers", {})
    cores = client.run(os.cpu_count)
    per_host: dict[str, tuple[int, int]] = {}  # host -> (cores, threads)
    for address, info in workers.items():
        host = info.get("host", address)
        threads = per_host.get(host, (0, 0))[1] + int(info.get("nthreads", 1))
        per_host[host] = (int(cores.get(address) or 1), threads)
    return min((c // max(t, 1) for c, t in per_host.values()), default=1)


class DaskPool:
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
        self._buffer: deque[dict] = deque()

    def submit(self, job: Job) -> Any:
        future = self.client.submit(
            run_job, job, *self._args, self._queue_name, pure=False, key=f"engage-{job.id}-{uuid.uuid4().hex[:8]}"
        )
        self._futures.append(future)
        return future

    def get(self, timeout: float) -> Message | None:
        # batch=True returns what is there at once: a blocking get with a timeout logs an error on the scheduler.
        if not self._buffer:
            self._buffer.extend(self._events.get(batch=True))
        if not self._buffer and timeout > 0:
            time.sleep(timeout)
            self._buffer.extend(self._events.get(batch=True))
        return from_wire(self._buffer.popleft()) if self._buffer else None

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
