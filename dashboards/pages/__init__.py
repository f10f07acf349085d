"""Dashboard pages, one module each, found by `discover()` and routed by dashboards/app.py.

A page module holds `page = Page(path, name=..., title=..., order=...)`, a layout function decorated with
`@page.layout` (called with the path's variables and the query string's parameters as keyword arguments) and
its callbacks decorated with `@page.callback(...)` (the arguments of `app.callback`). Nothing is registered
with Dash at import: `create_app` adds each page's callbacks to its own app, so several apps in one process
(tests, the benchmark) each have exactly their own.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from typing import Any, TypeVar

import dash

Function = TypeVar("Function", bound=Callable[..., Any])

_VARIABLE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


class Page:
    """One page: where it is served, how the navigation bar lists it, its layout and its callbacks."""

    def __init__(self, path: str, *, name: str, title: str, order: int = 0) -> None:
        self.path = path  # "/compare", or a template with variables: "/session/<session_id>"
        self.name = name
        self.title = title
        self.order = order
        self.render: Callable[..., Any] | None = None
        self._callbacks: list[tuple[tuple[Any, ...], dict[str, Any], Callable[..., Any]]] = []
        self._pattern = _path_pattern(path)

    @property
    def in_navigation(self) -> bool:
        """Pages that need a value in their path (a session) are reached by links, not from the navigation bar."""
        return _VARIABLE.search(self.path) is None

    def layout(self, function: Function) -> Function:
        """Decorator: the function that builds the page's layout."""
        self.render = function
        return function

    def callback(self, *args: Any, **kwargs: Any) -> Callable[[Function], Function]:
        """Decorator taking `app.callback`'s arguments; the callback is added to each app by `register`."""

        def record(function: Function) -> Function:
            self._callbacks.append((args, kwargs, function))
            return function

        return record

    def register(self, app: dash.Dash) -> None:
        """Add this page's callbacks to `app` (and to no other)."""
        for args, kwargs, function in self._callbacks:
            app.callback(*args, **kwargs)(function)

    def match(self, path: str) -> dict[str, str] | None:
        """The path's variables when `path` ("/session/3") is this page's, else None."""
        found = self._pattern.fullmatch(path)
        return found.groupdict() if found else None

    def __repr__(self) -> str:
        return f"Page({self.path!r}, name={self.name!r})"


def _path_pattern(path: str) -> re.Pattern[str]:
    """A regular expression for the paths of a template: each <variable> is one path segment."""
    parts, end = [], 0
    for variable in _VARIABLE.finditer(path):
        parts += [re.escape(path[end : variable.start()]), f"(?P<{variable.group(1)}>[^/]+)"]
        end = variable.end()
    return re.compile("".join([*parts, re.escape(path[end:])]))


def discover() -> list[Page]:
    """Every page in this package, in navigation order (a new module with a `page` is picked up)."""
    pages = []
    for info in pkgutil.iter_modules(__path__, prefix=f"{__name__}."):
        page = getattr(importlib.import_module(info.name), "page", None)
        if isinstance(page, Page):
            if page.render is None:
                raise TypeError(f"{info.name} has no function decorated with @page.layout")
            pages.append(page)
    return sorted(pages, key=lambda p: p.order)
