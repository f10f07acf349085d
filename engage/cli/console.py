"""The consoles every command prints through: user text is always plain text, never markup or escapes.

A session called ``[/]`` or ``[img]``, a file name holding ``\\x1b[31m``, an error quoting either: all print as
typed, with control characters shown escaped (engage.safetext.printable). Styles are set with Text objects
(``styled``), never with markup in strings, so no user string can be read as markup.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from engage.safetext import printable


class PlainConsole(Console):
    """A Rich console that renders every string as plain, one-line-safe text (no markup, no raw controls)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("highlight", False)
        kwargs.setdefault("soft_wrap", True)
        super().__init__(markup=False, emoji=False, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:  # every str printed, table cell or live line
        kwargs["markup"] = False
        kwargs["emoji"] = False
        return super().render_str(printable(text), **kwargs)


def styled(text: object, style: str) -> Text:
    """``text`` (made printable) in a Rich style, for the parts of a line we colour ourselves."""
    return Text(printable(text), style=style)


def error_line(message: object) -> Text:
    """``error: MESSAGE`` with the label in red and the message as plain text."""
    return Text.assemble(("error:", "red"), " ", printable(message))
