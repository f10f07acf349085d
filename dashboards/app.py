"""The Dash app: `create_app()` builds it over a database, `serve()` runs it (what `engage dashboard` calls).

Pages are modules in dashboards/pages/ registered with `dash.register_page`; the navigation bar lists every
registered page without a path variable, so a new page module appears there without edits here.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
from pathlib import Path
from typing import Any

import dash
import flask
from dash import dcc, html

from dashboards.data import DataSource
from engage.config import Config
from engage.errors import EngageError

PAGES_FOLDER = Path(__file__).resolve().parent / "pages"
SOURCE_KEY = "ENGAGE_DATA_SOURCE"
CONFIG_KEY = "ENGAGE_CONFIG"


def data_source() -> DataSource:
    """The DataSource of the app serving the current request (page layouts and callbacks call this)."""
    return flask.current_app.config[SOURCE_KEY]


def app_config() -> Config:
    return flask.current_app.config[CONFIG_KEY]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def credentials(config: Config) -> tuple[str, str] | None:
    """(username, password) from the config's dashboard section, None when not both set."""
    section = getattr(config, "dashboard", None)
    username, password = getattr(section, "username", None), getattr(section, "password", None)
    if username and password:
        return str(username), str(password)
    if username or password:
        raise EngageError(
            "dashboard.username and dashboard.password must be set together "
            "(set the password with ENGAGE_DASHBOARD__PASSWORD)"
        )
    return None


def check_bind(host: str, config: Config) -> None:
    """Refuse to serve beyond this machine without credentials."""
    if not is_loopback(host) and credentials(config) is None:
        raise EngageError(
            f"refusing to serve the dashboard on {host} without credentials: set dashboard.username in "
            "config.yaml and ENGAGE_DASHBOARD__PASSWORD, or serve on 127.0.0.1"
        )


def check_port(host: str, port: int) -> None:
    """One clear line when the address cannot be served (port taken, unknown host), before Dash starts."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EngageError(f"cannot serve the dashboard on {host}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise EngageError(
                f"cannot serve the dashboard on {host}:{port}: {exc.strerror} (another program may use it; try --port)"
            ) from exc


def _navigation() -> html.Nav:
    links = [
        dcc.Link(
            page["name"],
            href=page["relative_path"],
            className="nav-link",
            id=f"nav-{page['module'].rsplit('.', 1)[-1]}",
        )
        for page in sorted(dash.page_registry.values(), key=lambda p: (p.get("order") is None, p.get("order") or 0))
        if not page.get("path_template")  # pages that need a value in their path (a session) are reached by links
    ]
    return html.Nav([html.Span("engage", className="brand"), *links], className="navbar")


def _layout() -> html.Div:
    return html.Div([_navigation(), html.Main(dash.page_container, className="content")])


def create_app(db: str | Path | None, config: Config, *, refresh_seconds: float | None = None) -> dash.Dash:
    """The dashboard over the database `db` (None: config.database, then the user data folder), read-only.

    Credentials in config.dashboard (username and password) protect every page with HTTP basic auth.
    """
    section = getattr(config, "dashboard", None)
    refresh = refresh_seconds or getattr(section, "refresh_seconds", None) or 5.0
    # Dash runs every page module again for each new app, and their @callback decorators queue in module
    # globals that the first app to serve a request takes. Start from an empty queue (a page module imported
    # on its own leaves its callbacks there) and let this app take its own at once, so that several apps in
    # one process (tests, the benchmark) each get exactly their pages' callbacks, once.
    from dash import _callback

    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()
    app = dash.Dash(
        "dashboards",
        use_pages=True,
        pages_folder=str(PAGES_FOLDER),
        title="engage — lecture engagement",
        update_title=None,  # no "Updating..." flicker in the tab title on every live refresh
        suppress_callback_exceptions=True,
    )
    app.callback_map.update(_callback.GLOBAL_CALLBACK_MAP)
    app._callback_list.extend(_callback.GLOBAL_CALLBACK_LIST)
    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()
    app.server.config[SOURCE_KEY] = DataSource(db, config)
    app.server.config[CONFIG_KEY] = config
    app.server.config["ENGAGE_REFRESH_MS"] = int(refresh * 1000)
    app.layout = _layout
    login = credentials(config)
    if login is not None:
        import dash_auth

        # dash-auth keeps the signed-in user in Flask's session; a fresh key per start is enough for that.
        app.server.secret_key = secrets.token_hex(32)
        dash_auth.BasicAuth(app, {login[0]: login[1]})
    return app


def serve(config: Config, db: str | None = None, host: str | None = None, port: int | None = None, **run: Any) -> None:
    """Run the dashboard until interrupted (127.0.0.1:8050 unless config or arguments say otherwise)."""
    section = getattr(config, "dashboard", None)
    host = host or getattr(section, "host", None) or "127.0.0.1"
    port = port or getattr(section, "port", None) or 8050
    check_bind(host, config)
    check_port(host, port)
    app = create_app(db, config)
    source: DataSource = app.server.config[SOURCE_KEY]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request (live pages poll)
    print(f"engage dashboard on http://{host}:{port}/ reading {source.location} (Ctrl-C stops it)", flush=True)
    app.run(host=host, port=port, debug=False, **run)
