"""Text a user typed, made safe for where it goes: a terminal line, or a spreadsheet cell.

Session names, file names, paths and messages that quote them can hold anything: Rich markup (``[/]``),
terminal escape sequences (``\\x1b[31m``), newlines that would break a one-line error, or a leading ``=``
that a spreadsheet would run as a formula. These functions neutralise each without losing what was there.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit, urlunsplit

# Invisible characters that reorder or hide text on a terminal (Trojan Source): shown escaped like controls.
_BIDI = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# A cell starting with one of these is a formula (or a DDE command) to Excel, LibreOffice and Google Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def printable(text: object) -> str:
    """``text`` as one terminal-safe line: control and bidi characters shown escaped (``\\x1b``, ``\\n``).

    The result holds no escape sequence a terminal would act on and no line break; everything else,
    including non-ASCII letters and square brackets, is kept as it was.
    """
    text = str(text)
    if text.isprintable() and not _BIDI.intersection(text):
        return text
    return "".join(
        _escaped(c) if (c in _BIDI or unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029") else c
        for c in text
    )


def terminal_safe(text: str) -> str:
    """Many lines of data (a CSV export) for a terminal: like ``printable`` but keeping tabs and line breaks."""
    return "\n".join("\t".join(printable(cell) for cell in line.split("\t")) for line in text.split("\n"))


def valid_unicode(text: str) -> str:
    """``text`` as a database or a file can hold it: bytes the OS passed on undecoded (a non-UTF-8 file name or
    argument, held as surrogate escapes) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # lone surrogates that are no escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


def spreadsheet_text(value: object) -> object:
    """A text cell that a spreadsheet shows as text: a leading formula character gets a ``'`` in front.

    Only strings are changed (numbers such as -0.2 stay numbers); this is OWASP's advice for CSV files.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def mask_password(url: str) -> str:
    """A URL (a database or stream address) with any password replaced by ***; other text as it is."""
    if "://" not in url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL after all (a bad port, brackets): hide everything between :// and @
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    if password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
