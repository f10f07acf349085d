"""One session minute by minute: emotions, attention, engagement, faces, dominant emotions; live while recording."""

from __future__ import annotations

import dash
import flask
from dash import Input, Output, State, dcc, html

from dashboards import figures
from dashboards.app import data_source
from dashboards.components import code_spans, empty_state
from dashboards.pages import Page
from dashboards.views import session_csv, session_view, sheets_status

page = Page("/session/<session_id>", name="Session", title="engage — session", order=90)


def _graph(graph_id: str, height: int) -> dcc.Graph:
    return dcc.Graph(id=graph_id, config=figures.GRAPH_CONFIG, style={"height": f"{height}px"})


@page.layout
def layout(session_id: str | None = None, **_query: str) -> html.Div:
    source = data_source()
    configured, spreadsheet = sheets_status(source.config)
    sheets_text = (
        f"Mirrored to Google Sheets (spreadsheet {spreadsheet}) with `engage export sheets {session_id}`."
        if configured
        else f"To mirror this session to Google Sheets, set `sheets.spreadsheet` in config.yaml, then run "
        f"`engage export sheets {session_id}`."
    )
    return html.Div(
        [
            dcc.Store(id="session-id", data=session_id),
            dcc.Interval(id="session-refresh", interval=flask.current_app.config["ENGAGE_REFRESH_MS"], disabled=True),
            dcc.Link("← All sessions", href="/", className="back"),
            html.H1(id="session-title", children=f"Session {session_id}"),
            html.Div(id="session-live", className="live"),
            html.Dl(id="session-facts", className="facts"),
            html.Div(id="session-message"),
            html.Div(
                id="session-charts",
                children=[
                    _graph("emotion-timeline", 380),
                    # Under the emotions, on the same minute axis; a note instead for a session from before head pose.
                    html.Div(_graph("attention-timeline", 300), id="attention-chart"),
                    html.P(id="attention-note", className="hint"),
                    _graph("corrected-shares", 80 + 92 * 7),  # dashboards.intervals: one strip per emotion
                    _graph("engagement-timeline", 340),
                    html.Div(
                        [_graph("faces-timeline", 320), _graph("dominant-emotions", 320)], className="two-columns"
                    ),
                ],
            ),
            html.Section(
                [
                    html.H2("Export"),
                    html.Button("Download per-minute data (CSV)", id="csv-button", className="button"),
                    dcc.Download(id="csv-download"),
                    html.P(code_spans(sheets_text), id="sheets-hint", className="hint"),
                    html.P(
                        code_spans(f"The same CSV from a terminal: `engage export {session_id} --format csv`."),
                        className="hint",
                    ),
                ],
                className="export",
            ),
        ]
    )


@page.callback(
    Output("session-title", "children"),
    Output("session-facts", "children"),
    Output("session-message", "children"),
    Output("session-charts", "style"),
    Output("emotion-timeline", "figure"),
    Output("attention-timeline", "figure"),
    Output("attention-chart", "style"),
    Output("attention-note", "children"),
    Output("corrected-shares", "figure"),
    Output("engagement-timeline", "figure"),
    Output("faces-timeline", "figure"),
    Output("dominant-emotions", "figure"),
    Output("session-refresh", "disabled"),
    Output("session-live", "children"),
    Input("session-refresh", "n_intervals"),
    Input("session-id", "data"),
)
def update_session(_n: int | None, session_id: str | None):
    view = session_view(data_source(), session_id)
    message = empty_state(view.message) if view.message else None
    if view.info is None:
        empty = {"data": [], "layout": {}}
        hidden = {"display": "none"}
        # title, facts, message, charts' style, emotions, attention, its style and note, the other four charts
        return "Session not found", [], message, hidden, empty, empty, hidden, None, *[empty] * 4, True, None
    facts = []
    for term, value in view.facts:
        facts += [html.Dt(term), html.Dd(value)]
    no_faces = not view.minutes or not any(m.faces_total for m in view.minutes)
    live = (
        html.Span(
            f"● Recording — this page updates itself every {flask.current_app.config['ENGAGE_REFRESH_MS'] / 1000:g} s",
            className="live-badge",
        )
        if view.live
        else None
    )
    f = view.figures
    return (
        view.info.name,
        facts,
        message,
        {"display": "none"} if no_faces else {},
        f["emotions"],
        f["attention"],
        {"display": "none"} if view.attention_note else {},
        code_spans(view.attention_note) if view.attention_note else None,
        f["corrected"],
        f["engagement"],
        f["faces"],
        f["dominant"],
        not view.live,
        live,
    )


@page.callback(
    Output("csv-download", "data"),
    Input("csv-button", "n_clicks"),
    State("session-id", "data"),
    prevent_initial_call=True,
)
def download_csv(_clicks: int | None, session_id: str | None):
    found = session_csv(data_source(), session_id)
    if found is None:
        return dash.no_update
    filename, text = found
    return {"content": text, "filename": filename, "type": "text/csv"}
