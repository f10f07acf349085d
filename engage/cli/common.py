"""What every `engage` command shares: the Typer app, consoles, options, setup and error hints.

Data goes to stdout (tables, or JSON with --json); progress, messages and errors go to stderr.
Every EngageError becomes one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import typer

from engage.cli.console import PlainConsole, error_line
from engage.config import load_config
from engage.errors import DatabaseUnavailable, EngageError, NotFound, SessionNotFound

# Plain help, as git and httpie print it (Rich panels showed a `<bool>` type on every flag).
app = typer.Typer(
    help="Classroom engagement from facial expressions, stored as aggregates only.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db_app, name="db")
# Every string printed is plain text (no Rich markup, control characters shown escaped): see engage.cli.console.
out = PlainConsole()
err = PlainConsole(stderr=True)

DbOption = Annotated[
    str | None, typer.Option("--db", metavar="DB", help="Database file or SQLAlchemy URL (default: user data dir)")
]
ConfigOption = Annotated[Path | None, typer.Option("--config", metavar="FILE", help="YAML file overriding config.yaml")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]

if TYPE_CHECKING:
    from engage.types import SessionListener


@contextlib.contextmanager
def on_interrupt(message: str) -> Iterator[None]:
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


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def load_effective_config(config_file: Path | None = None, **overrides: Any):
    """The effective config: config.yaml, then `config_file`, then the options given (None: not given).

    An in-memory database (`sqlite://`, `:memory:`) is refused: what a command stored there would be gone
    when it exits.
    """
    from engage.store.urls import is_memory, resolve_url

    config = load_config(config_file, overrides)
    if is_memory(resolve_url(config.database)):
        raise DatabaseUnavailable(
            "an in-memory database (sqlite:// or :memory:) loses everything when engage exits: "
            "give a file path or a server URL"
        )
    return config


def setup(config_file: Path | None = None, *, retention: bool = True, **overrides: Any):
    """For commands that write: effective config and the store, after the start-up housekeeping.

    Runs whose process is gone are marked interrupted, sessions past privacy.retention_days are deleted
    (unless `retention` is False), and with a spreadsheet configured every write is queued for Google Sheets.
    """
    from engage.sheets.outbox import subscribe_if_configured
    from engage.store.database import open_store

    config = load_effective_config(config_file, **overrides)
    store = open_store(config.database)
    store.mark_interrupted()
    if retention and config.privacy.retention_days:
        removed = store.purge(config.privacy.retention_days)
        if removed:
            err.print(f"deleted {removed} session(s) older than {config.privacy.retention_days} days (retention)")
    subscribe_if_configured(store, config.sheets)
    return config, store


def setup_read_only(config_file: Path | None = None, **overrides: Any):
    """For commands that only read: effective config and the store, opened so that nothing is written.

    A database in a read-only folder can be read. One with an older schema is upgraded first, as any
    command does (a write, which fails clearly where the database is read-only).
    """
    from engage.store.database import open_store, open_store_read_only

    config = load_effective_config(config_file, **overrides)
    store = open_store_read_only(config.database)
    if store.current_revision() != store.head_revision():
        store.close()
        store = open_store(config.database)
    return config, store


@contextlib.contextmanager
def sheets_mirror(config, store) -> Iterator[SessionListener | None]:
    """Mirror new minutes to Google Sheets from a background thread while a command runs (sheets.mirror).

    Google being slow or down never slows or fails the command: what is not sent stays queued.
    """
    from engage.sheets.mirror import mirror_from_config

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


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"engage {version('engage')}")
        raise typer.Exit()


@app.callback()
def _group(
    show_version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """Classroom engagement from facial expressions, stored as aggregates only."""


def hint(exc: EngageError) -> str:
    """What to run next, by the kind of error (library messages name no commands)."""
    if isinstance(exc, SessionNotFound):
        return "; run `engage sessions` to list them"
    if isinstance(exc, NotFound) and "emotion model" in str(exc):
        return " (train one with `engage train`)"
    if isinstance(exc, NotFound) and "FER2013 data" in str(exc):
        return ", or pass --data PATH/fer2013.npz"
    return ""


def usage_error(exc: Exception) -> str:
    """A usage error (unknown option, bad value, missing argument) as one line, with where to find help."""
    format_message = getattr(exc, "format_message", None)
    message = " ".join((format_message() if format_message else str(exc) or "aborted").split())
    if not message:
        return ""
    context = getattr(exc, "ctx", None)
    command = getattr(context, "command_path", None) or "engage"
    return f"{message} (see `{command} --help`)"


def unexpected(exc: BaseException) -> str:
    """The one line for an exception no part of engage turned into an EngageError."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):  # a database failure that was not translated
        text = str(exc.orig if exc.orig is not None else exc).strip()
        return f"database error: {text.splitlines()[0] if text else type(exc.orig).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = str(exc).strip()
    detail = f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
    return f"unexpected {detail} (a bug in engage: rerun with ENGAGE_DEBUG=1 for the traceback and report it)"


def main() -> None:
    """The `engage` command: every failure ends as one line on stderr and a non-zero exit, never a traceback."""
    try:
        # Not standalone: Typer hands back usage errors (a bad option, a missing argument) instead of printing
        # a box of them, so they are one line too.
        code = app(standalone_mode=False, prog_name="engage")
    except typer.TyperException as exc:  # click's UsageError, BadParameter, Abort ...
        message = usage_error(exc)
        if message:  # (none after the help that a bare `engage` or `engage export` prints)
            err.print(error_line(message))
        sys.exit(getattr(exc, "exit_code", 1))
    except EngageError as exc:
        # Messages quote user strings ([brackets], escapes): error_line prints them as plain text.
        err.print(error_line(str(exc) + hint(exc)))
        sys.exit(exc.exit_code)
    except BrokenPipeError:  # `engage export 1 | head`: the reader left; say nothing more to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("ENGAGE_DEBUG"):
            raise
        err.print(error_line(unexpected(exc)))
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
