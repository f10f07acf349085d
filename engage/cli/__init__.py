"""The `engage` command: a thin Typer layer over the library, one module per group of commands."""

from engage.cli import analysis, data, model  # noqa: F401  (importing them registers their commands)
from engage.cli.common import app, main

__all__ = ["app", "main"]
