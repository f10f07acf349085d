"""Run the real `engage` entry point (engage.cli.main, the part that turns every failure into one line) in this
process: faster than a subprocess, and it sees what the test patched (the fake Sheets client). A timer turns
a hang into a failure instead of a stuck test."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


class Hang(Exception):
    """The command did not finish within its time."""


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    try:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_main(*args: str, env: Mapping[str, str | None] | None = None, timeout: float = 60.0) -> Result:
    """`engage ARGS` through engage.cli.main; any exception escaping it fails the test with its traceback."""
    from engage.cli import main

    def hang(_signum: int, _frame: object) -> None:
        raise Hang(f"engage {' '.join(args)} did not finish in {timeout:g} s")

    stdout, stderr = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    code = 0
    try:
        with (
            _environment(env or {}),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            saved_argv = sys.argv
            sys.argv = ["engage", *args]
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            finally:
                sys.argv = saved_argv
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Result(code, stdout.getvalue(), stderr.getvalue())


def one_line_error(result: Result) -> str:
    """The single line a failed command printed; fails unless it failed with exactly one line and no traceback."""
    assert result.code != 0, f"expected a failure, got exit 0: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.lines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "a bug in engage" not in lines[0], lines[0]
    return lines[0]
