"""The Dash app: `create_app()` builds it over a database, `serve()` runs it (what `engage dashboard` calls).

Pages are modules in dashboards/pages/ (see dashboards.pages.Page). Each app routes them itself: one callback
on the URL renders the page whose path matches, and the page's callbacks are added to that app only, so
several apps in one process (tests, the benchmark) never share or lose callbacks. The navigation bar lists
every page without a path variable, so a new page module appears there without edits here.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import dash
import flask
from dash import Input, Output, dcc, html

from dashboards.data import DataSource
from dashboards.pages import Page, discover
from engage.config import Config
from engage.errors import EngageError
from engage.safetext import printable
from engage.vision.photos import MAX_IMAGE_BYTES

SOURCE_KEY = "ENGAGE_DATA_SOURCE"
CONFIG_KEY = "ENGAGE_CONFIG"
APP_TITLE = "engage — lecture engagement"
# The largest request: a photo at the upload limit as base64 in a callback's JSON, with a quarter to spare, so a
# file a little over the limit still gets the page's own "over the 15 MB limit" message.
MAX_REQUEST_BYTES = (MAX_IMAGE_BYTES + 2) // 3 * 4 * 5 // 4 + (64 << 10)
# Ids of the router's components in the app's layout.
LOCATION, PAGE_CONTENT, PAGE_TITLE = "page-location", "page-content", "page-title"


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


def _navigation(app: dash.Dash, pages: list[Page]) -> html.Nav:
    links = [
        dcc.Link(
            page.name,
            href=app.get_relative_path(page.path),
            className="nav-link",
            id="nav-" + re.sub(r"[^a-z0-9]+", "-", page.name.lower()).strip("-"),
        )
        for page in pages
        if page.in_navigation
    ]
    return html.Nav([html.Span("engage", className="brand"), *links], className="navbar")


def _layout(app: dash.Dash, pages: list[Page]) -> html.Div:
    return html.Div(
        [
            dcc.Location(id=LOCATION),
            _navigation(app, pages),
            html.Main(html.Div(id=PAGE_CONTENT), className="content"),
            dcc.Store(id=PAGE_TITLE),
        ]
    )


def _not_found(app: dash.Dash) -> html.Div:
    return html.Div(
        [html.H1("Page not found"), dcc.Link("← All sessions", href=app.get_relative_path("/"), className="back")]
    )


def _add_router(app: dash.Dash, pages: list[Page]) -> None:
    """Render the page matching the URL into PAGE_CONTENT (dcc.Link changes the URL without a reload)."""

    # Like Dash Pages: no initial call, as dcc.Location sets its pathname when it mounts, which triggers this.
    @app.callback(
        Output(PAGE_CONTENT, "children"),
        Output(PAGE_TITLE, "data"),
        Input(LOCATION, "pathname"),
        Input(LOCATION, "search"),
        prevent_initial_call=True,
    )
    def route(pathname: str | None, search: str | None) -> tuple[Any, str]:
        # A request not made by the page may send any JSON value: what is not text is no path or query.
        pathname, search = (v if isinstance(v, str) else None for v in (pathname, search))
        path = "/" + (app.strip_relative_path(pathname or "/") or "")
        query = {name: values[-1] for name, values in parse_qs((search or "").lstrip("?")).items()}
        for page in pages:
            variables = page.match(path)
            if variables is not None:
                return page.render(**{**query, **variables}), page.title
        return _not_found(app), f"{APP_TITLE}: page not found"

    app.clientside_callback(
        "function (title) { if (title) { document.title = title; } }",
        Input(PAGE_TITLE, "data"),
    )


def create_app(db: str | Path | None, config: Config, *, refresh_seconds: float | None = None) -> dash.Dash:
    """The dashboard over the database `db` (None: config.database, then the user data folder), read-only.

    Credentials in config.dashboard (username and password) protect every page with HTTP basic auth.
    """
    section = getattr(config, "dashboard", None)
    refresh = refresh_seconds or getattr(section, "refresh_seconds", None) or 5.0
    app = dash.Dash(
        "dashboards",
        title=APP_TITLE,
        update_title=None,  # no "Updating..." flicker in the tab title on every live refresh
        suppress_callback_exceptions=True,  # page components are not in the layout until their page is shown
    )
    pages = discover()
    app.layout = _layout(app, pages)
    _add_router(app, pages)
    for page in pages:
        page.register(app)
    app.server.config[SOURCE_KEY] = DataSource(db, config)
    app.server.config[CONFIG_KEY] = config
    app.server.config["ENGAGE_REFRESH_MS"] = int(refresh * 1000)
    # Requests are read into memory: refuse any larger than the biggest photo upload (HTTP 413) before that.
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    _guard_requests(app.server, credentials(config), app.callback_map)
    return app


def _login_required() -> flask.Response:
    return flask.Response("Login required", 401, {"WWW-Authenticate": 'Basic realm="engage", charset="UTF-8"'})


def _is_callback_body(body: Any, callbacks: Mapping[str, Any]) -> bool:
    """Whether a POST to Dash's callback route names one of the app's callbacks, with the inputs and state
    that callback declares, in the shape Dash reads (else Dash fails with a 500 and a traceback)."""
    if not (isinstance(body, dict) and isinstance(body.get("output"), str) and body["output"] in callbacks):
        return False
    declared = callbacks[body["output"]]
    return (
        isinstance(body.get("outputs"), dict | list)
        and _matches(body.get("inputs"), declared.get("inputs", []))
        and _matches(body.get("state", []), declared.get("state", []))
        and isinstance(body.get("changedPropIds", []), list)
        and all(isinstance(p, str) for p in body.get("changedPropIds", []))
    )


def _matches(given: Any, declared: list[dict[str, Any]]) -> bool:
    """Whether a callback request's inputs (or state) are the declared ones, in order: {"id", "property",
    "value"} each, or a list of such for a wildcard id (a dict), whose matches are not checked one by one."""
    if not isinstance(given, list) or len(given) != len(declared):
        return False
    for item, expected in zip(given, declared, strict=True):
        if isinstance(item, list):  # the matches of a wildcard (pattern-matching) id
            if not isinstance(expected.get("id"), dict) or not all(_is_dependency(d) for d in item):
                return False
        elif not (_is_dependency(item) and item["property"] == expected.get("property")):
            return False
        elif isinstance(expected.get("id"), str) and item["id"] != expected["id"]:
            return False
    return True


def _is_dependency(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("id"), str | dict) and isinstance(item.get("property"), str)


def _guard_requests(server: flask.Flask, login: tuple[str, str] | None, callbacks: Mapping[str, Any]) -> None:
    """Before anything reads a request: HTTP basic auth on every route when `login` is set (pages, assets and
    callbacks alike, so an unauthenticated request is a 401 whatever its body), then a 400 for a callback
    request whose body is not a callback (Dash would answer 500 with a traceback in the log)."""
    expected = None if login is None else (login[0].encode(), login[1].encode())

    @server.before_request
    def check_request() -> flask.Response | None:
        if expected is not None:
            given = flask.request.authorization  # parsed by Werkzeug; None when missing or malformed
            if given is None or given.type != "basic":
                return _login_required()
            user, password = (given.username or "").encode(), (given.password or "").encode()
            # Both compared in constant time, so the time taken says nothing about either.
            if not (secrets.compare_digest(user, expected[0]) & secrets.compare_digest(password, expected[1])):
                return _login_required()
        if flask.request.method == "POST" and flask.request.path.endswith("/_dash-update-component"):
            # Dash's own before_request (registered first, when the app was made) has filled `callbacks` by now.
            if not _is_callback_body(flask.request.get_json(silent=True), callbacks):
                return flask.Response("not a Dash callback request", 400)
        return None


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
    where = printable(f"http://{host}:{port}/ reading {source.location}")  # a path may hold escape sequences
    print(f"engage dashboard on {where} (Ctrl-C stops it)", flush=True)
    app.run(host=host, port=port, debug=False, **run)
