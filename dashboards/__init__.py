"""The engage dashboard: a read-only Dash app over the sessions database (`engage dashboard`)."""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):  # lazy, so `import dashboards` does not import Dash until it is needed
    if name in __all__:
        from dashboards import app

        return getattr(app, name)
    raise AttributeError(name)
