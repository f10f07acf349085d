"""What `engage batch` shows: an overall Rich bar (videos, media hours, ETA), the files in progress, and the
final table of results and failures. Kept out of cli.py so the command itself stays a thin layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from engage.minutes.timefmt import format_clock
from engage.runs.batch import BatchObserver, BatchReport, FileResult
from engage.runs.batch_worker import Job
from engage.safetext import printable


class RichBatchProgress(BatchObserver):
    """Overall bar in media seconds (so the ETA follows media time) plus one line per file being analysed."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            TextColumn("{task.fields[info]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.files = self.done = 0
        self.media_total = self.media_done = 0.0
        self._overall: TaskID | None = None
        self._running: dict[str, tuple[TaskID, float]] = {}  # path -> (task, media reached)

    def __enter__(self) -> RichBatchProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def _refresh(self) -> None:
        if self._overall is None:
            return
        running = sum(media for _, media in self._running.values())
        self.bar.update(
            self._overall,
            total=max(self.media_total, 1e-9),
            completed=self.media_done + running,
            description=f"videos {self.done}/{self.files}",
            info=f"{(self.media_done + running) / 3600:.2f}/{self.media_total / 3600:.2f} media h",
        )

    def planned(self, files: int, media_s: float) -> None:
        self.files, self.media_total = files, media_s
        self._overall = self.bar.add_task("videos", total=max(media_s, 1e-9), info="")
        self._refresh()

    def started(self, job: Job) -> None:
        task = self.bar.add_task(printable(f"  {job.name}"), total=job.duration or None, info="", visible=True)
        self._running[job.path] = (task, 0.0)

    def progress(self, job: Job, media_s: float) -> None:
        entry = self._running.get(job.path)
        if entry is None:
            return
        self._running[job.path] = (entry[0], media_s)
        self.bar.update(entry[0], completed=media_s, info=f"{format_clock(media_s)} / {format_clock(job.duration)}")
        self._refresh()

    def finished(self, result: FileResult, duration: float | None) -> None:
        entry = self._running.pop(result.path, None)
        if entry is not None:
            self.bar.remove_task(entry[0])
        if result.path and duration is not None:
            self.done += 1
            if result.status in ("completed", "partial", "failed") and result.session_id is not None:
                self.media_done += duration
            else:
                self.media_total -= duration  # skipped or duplicate: no work, so not in the ETA
        self._refresh()


def results_table(report: BatchReport) -> Table:
    """One row per file. Numbers never wrap; long names and errors fold, so it reads at 80 columns too."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("file", overflow="fold", ratio=3, min_width=10)
    table.add_column("session", overflow="fold")
    table.add_column("status", no_wrap=True)
    for numeric in ("min", "faces", "media", "time"):
        table.add_column(numeric, justify="right", no_wrap=True)
    table.add_column("note / error", overflow="fold", ratio=4, min_width=12)
    for r in report.results:
        colour = {"completed": "green", "skipped": "dim", "duplicate": "dim", "partial": "yellow"}.get(r.status, "red")
        path = Path(r.path)
        session = "" if r.session_id is None else f"#{r.session_id}"
        if r.session_id is not None and r.name != path.stem:  # the default name is the file's stem: say it once
            session += f" {r.name}"
        message = r.error or r.note or ""
        table.add_row(
            path.name or r.path,
            session,
            Text(r.status, style=colour),
            str(r.minutes),
            str(r.faces) if r.frames else "",
            format_clock(r.media_s, missing=""),
            f"{r.seconds:.1f} s" if r.seconds else "",
            message.replace(r.path, path.name) if path.name else message,  # the file column already has the path
        )
    return table


def summary_line(report: BatchReport) -> str:
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    analysed = sum(r.media_s or 0.0 for r in report.results if r.frames)
    # Media hours per wall hour is media seconds per wall second.
    rate = f", {analysed / report.seconds:.1f} media-h per wall-h" if report.seconds and analysed else ""
    where = "local pool" if report.executor == "local" else f"Dask {report.executor}"
    return (
        f"{len(report.results)} file(s): {parts}; {analysed / 3600:.2f} media h analysed in "
        f"{format_clock(report.seconds)} on {report.workers} worker(s), {where}{rate}"
    )
