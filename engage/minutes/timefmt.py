"""How engage writes a span of media or session time for people: m:ss, or h:mm:ss from an hour on."""

from __future__ import annotations


def format_clock(seconds: float | None, missing: str = "?") -> str:
    """``75.4`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"`` (rounded to the second); None -> ``missing``."""
    if seconds is None:
        return missing
    whole = max(0, int(round(seconds)))
    h, rest = divmod(whole, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
