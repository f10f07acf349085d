"""Several sessions' engagement overlaid over lecture time."""

from __future__ import annotations

from dash import Input, Output, dcc, html

from dashboards import figures
from dashboards.app import data_source
from dashboards.pages import Page
from dashboards.views import comparison_view, parse_ids, session_options

page = Page("/compare", name="Compare", title="engage — compare sessions", order=10)


@page.layout
def layout(ids: str | None = None, **_query: str) -> html.Div:
    options = session_options(data_source())
    known = {o["value"] for o in options}
    return html.Div(
        [
            html.H1("Compare sessions"),
            html.P(
                "Pick sessions to overlay their engagement minute by minute from the start of each lecture.",
                className="hint",
            ),
            dcc.Dropdown(
                id="compare-sessions",
                options=options,
                value=[i for i in parse_ids(ids) if i in known],
                multi=True,
                placeholder="Pick sessions…" if options else "No sessions with minutes yet",
            ),
            dcc.Graph(id="compare-chart", config=figures.GRAPH_CONFIG, style={"height": "460px"}),
        ]
    )


@page.callback(Output("compare-chart", "figure"), Input("compare-sessions", "value"))
def update_comparison(session_ids: list[int] | None):
    return comparison_view(data_source(), session_ids)
