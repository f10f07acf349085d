"""Small pieces of page shared by the dashboard pages."""

from __future__ import annotations

import re

from dash import dcc, html

from dashboards.data import Unavailable


def empty_state(state: Unavailable) -> html.Div:
    """A box saying why a page has nothing to show and what to do (`code` in backticks is shown as code)."""
    return html.Div(
        [html.H3(state.title), dcc.Markdown(state.advice, className="advice")],
        className="empty-state",
        role="status",
    )


def code_spans(text: str) -> list:
    """Plain text with `command` parts shown as code."""
    parts = re.split(r"`([^`]+)`", text)
    return [html.Code(p) if i % 2 else p for i, p in enumerate(parts) if p]
