"""`engage sessions`, `show`, `export`, `purge`, `db upgrade` and `dashboard`: reading and keeping sessions."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import click
import typer
from rich import box
from rich.table import Table
from typer.core import TyperGroup

from engage.cli.common import (
    ConfigOption,
    DbOption,
    JsonOption,
    app,
    db_app,
    err,
    load_effective_config,
    on_interrupt,
    out,
    print_json,
    setup,
    setup_read_only,
)
from engage.cli.console import styled
from engage.errors import EngageError, NotFound
from engage.minutes.metrics import MinuteMetrics, session_attention, session_engagement
from engage.minutes.timefmt import format_clock


@app.command("sessions")
def sessions_command(db: DbOption = None, as_json: JsonOption = False) -> None:
    """List recorded sessions, newest first."""
    try:
        _, store = setup_read_only(None, database=db)
        sessions = store.list_sessions()
    except NotFound:  # no database yet
        sessions = []
    if as_json:
        print_json([s.to_dict() for s in sessions])
        return
    if not sessions:
        err.print("no sessions yet: run `engage demo` or `engage analyze VIDEO`")
        return
    # Designed for 80 columns: names and sources are cut with an ellipsis, never wrapped; --json has them whole.
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", no_wrap=True, overflow="ellipsis", max_width=20)
    table.add_column("status", no_wrap=True)
    table.add_column("started UTC", no_wrap=True, min_width=16)
    table.add_column("media", justify="right", no_wrap=True, min_width=5)
    table.add_column("min", justify="right", no_wrap=True, min_width=3)
    table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=12)
    for s in sessions:
        table.add_row(
            str(s.id),
            s.name,
            s.status,
            s.started_at.strftime("%Y-%m-%d %H:%M"),
            format_clock(s.media_duration_s),
            str(s.minutes),
            _source_label(s.source),
        )
    out.print(table)


def _source_label(source: str) -> str:
    """A file's name (its folder is in --json); cameras and stream addresses as they are."""
    return source if "://" in source or source.startswith("camera") else Path(source).name or source


@app.command("show")
def show_command(
    session: Annotated[str, typer.Argument(help="Session id or name")], db: DbOption = None, as_json: JsonOption = False
) -> None:
    """Show a session's per-minute metrics."""
    _, store = setup_read_only(None, database=db)
    info = store.get_session(session)
    minutes = store.minutes(info.id)
    if as_json:
        print_json({**info.to_dict(), "minutes": [m.to_row() for m in minutes]})
        return
    out.print(
        f"session #{info.id} '{info.name}' — {info.status}" + (f" ({info.status_detail})" if info.status_detail else "")
    )
    started = f"{info.started_at:%Y-%m-%d %H:%M} UTC"
    out.print(f"{_source_label(info.source)}, started {started}, media {format_clock(info.media_duration_s)}")
    # Designed for 80 columns; every figure (the engagement bands, down/away shares, engagement_v1) and the
    # source's full path are in --json. A figure nothing measured (a minute from before head pose) is "–".
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False)
    for name, width in (("min", 3), ("frames", 5), ("faces", 5), ("people", 6)):
        table.add_column(name, justify="right", no_wrap=True, min_width=width)
    table.add_column("engagement", no_wrap=True, min_width=10)
    table.add_column("facing", justify="right", no_wrap=True, min_width=6)
    table.add_column("valence", justify="right", no_wrap=True, min_width=7)
    table.add_column("top (corrected)", no_wrap=True, overflow="ellipsis", min_width=15)
    for m in minutes:
        counts = (
            str(m.number),
            f"{m.frames_sampled}/{m.frames_expected}",
            f"{m.faces_mean:.1f}/{m.faces_max}",
            "–" if m.people is None else str(m.people),
        )
        facing = "–" if m.attention_facing is None else f"{m.attention_facing:.0%}"
        if m.suppressed:
            table.add_row(*counts, styled("hidden (privacy)", "dim"), facing, "", "")
            continue
        table.add_row(
            *counts,
            _figure(m.engagement) + _plus_minus(m.engagement, m.engagement_low90, m.engagement_high90),
            facing,
            _figure(m.valence, "+.2f"),
            _top_corrected(m, shown=1) or (m.dominant_emotion or ""),
        )
    out.print(table)
    shown = [m for m in minutes if not m.suppressed]
    engagement = session_engagement(minutes)
    out.print(
        f"{len(minutes)} minute(s), {len(minutes) - len(shown)} hidden for privacy, "
        f"{sum(m.faces_total for m in minutes)} face readings, mean engagement "
        + ("n/a" if engagement is None else f"{engagement:.2f}")
    )
    attention = session_attention(minutes)
    if attention is not None:
        people = max((m.people for m in minutes if m.people is not None), default=None)
        out.print(
            "head pose: "
            + ", ".join(f"{state} {share:.0%}" for state, share in attention.items())
            + " of faces"
            + ("" if people is None else f"; at most {people} {'person' if people == 1 else 'people'} in a minute")
        )
    if any(m.emotion_corrected for m in minutes):
        out.print("± −/+: the 90% interval (shares in points); corrected for the model's confusions")


def _figure(value: float | None, spec: str = ".2f") -> str:
    """A figure as the table prints it; "–" for one nothing measured."""
    return "–" if value is None else format(value, spec)


def _plus_minus(value: float | None, low: float | None, high: float | None, scale: float = 1.0, digits: int = 2) -> str:
    """The interval around ``value`` as " ±0.05", or " −0.08/+0.03" when it is lopsided (near 0 or 1)."""
    if value is None or low is None or high is None:
        return ""
    below, above = f"{(value - low) * scale:.{digits}f}", f"{(high - value) * scale:.{digits}f}"
    return f" ±{above}" if below == above else f" −{below}/+{above}"


def _top_corrected(m: MinuteMetrics, shown: int = 2) -> str:
    """The minute's largest corrected shares with their 90% interval in points, e.g. "neutral 41% ±9"."""
    if not m.emotion_corrected:
        return ""
    low, high = m.emotion_corrected_low90 or {}, m.emotion_corrected_high90 or {}
    top = sorted(m.emotion_corrected, key=lambda e: -m.emotion_corrected[e])[:shown]
    return ", ".join(
        f"{e} {m.emotion_corrected[e]:.0%}" + _plus_minus(m.emotion_corrected[e], low.get(e), high.get(e), 100, 0)
        for e in top
    )


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
    epilog="Options of `engage export SESSION`: --format csv|parquet|json (default csv), -o/--output FILE "
    "(default: stdout for csv and json), --db DB. `engage export sheets --help` lists the Sheets options.",
    rich_markup_mode=None,
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

    _, store = setup_read_only(None, database=db)
    info = store.get_session(session)
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
        config, store = setup_read_only(config_file, database=db)
        summary = outbox_summary(store)
        if as_json:
            print_json({"spreadsheet": config.sheets.spreadsheet, "mirror": config.sheets.mirror, **summary})
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
    config, store = setup(config_file, database=db)
    infos = [store.get_session(s) for s in sessions or []]
    result = export_sessions(store, infos, config.sheets, spreadsheet=spreadsheet, worksheet=worksheet)
    for warning in result.warnings:
        err.print(f"warning: {warning}")
    if as_json:
        print_json(result.to_dict())
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
    config, store = setup(config_file, retention=False, database=db)
    keep_days = config.privacy.retention_days if days is None else days
    if keep_days <= 0:
        raise EngageError("retention is 0 (keep everything): pass --days N to purge")
    removed = store.purge(keep_days)
    out.print(f"deleted {removed} session(s) older than {keep_days} days")


@db_app.command("upgrade")
def db_upgrade_command(db: DbOption = None) -> None:
    """Create or upgrade the database schema to the latest revision."""
    from engage.store.database import open_store

    config = load_effective_config(None, database=db)
    store = open_store(config.database)
    store.upgrade()
    out.print(f"database at revision {store.current_revision()} (latest): {store.url}")


@app.command("dashboard")
def dashboard_command(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to serve on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default 8050)", min=1, max=65535)] = None,
    config_file: ConfigOption = None,
) -> None:
    """Serve the read-only dashboard of the sessions in a web browser. Ctrl-C stops it."""

    # No setup(): the dashboard never writes (no purge, no marking), and a missing database is not created.
    flags = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    config = load_effective_config(config_file, database=db, dashboard=flags or None)
    try:
        from dashboards.app import check_bind, serve
    except ImportError as exc:
        raise EngageError(f"the dashboard needs Dash ({exc.name or exc}): pip install engage") from exc
    check_bind(host or config.dashboard.host, config)
    with on_interrupt("dashboard stopped"):
        serve(config, db=db)
