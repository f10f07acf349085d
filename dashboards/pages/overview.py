"""Sessions overview: every session in a sortable, filterable table, with a chart of their engagement."""

from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import Input, Output, dcc, html

from dashboards import figures
from dashboards.app import data_source
from dashboards.components import empty_state
from dashboards.pages import Page
from dashboards.views import overview_view

page = Page("/", name="Sessions", title="engage — sessions", order=0)

NUMBER = {"filter": "agNumberColumnFilter", "type": "numericColumn"}
SPARK_TIP = (
    "Engagement in equal parts of the session, drawn from its own least engaged part (▁) to its most (█), whose "
    "figures the next column gives; · marks a part hidden for privacy"
)
COLUMNS = [
    {"field": "session", "headerName": "Session", "cellRenderer": "markdown", "minWidth": 200},
    {"field": "date", "headerName": "Started (UTC)", "sort": "desc", "cellDataType": "text", "minWidth": 150},
    {
        "field": "duration",
        "headerName": "Length",
        "comparator": {"function": "(nodeA.data.minutes || 0) - (nodeB.data.minutes || 0)"},
        "filter": False,
        "minWidth": 90,
    },
    {"field": "engagement", "headerName": "Mean engagement (0–1)", **NUMBER, "minWidth": 130},
    {
        "field": "trend",
        "headerName": "Engagement, start → end",
        "headerTooltip": SPARK_TIP,
        "sortable": False,
        "filter": False,
        "cellClass": "sparkline",
        "minWidth": 150,
    },
    {
        "field": "spread",
        "headerName": "Least – most engaged part",
        "headerTooltip": "The engagement of the session's least and most engaged parts: the trend's ▁ and █",
        "sortable": False,
        "filter": False,
        "minWidth": 110,
    },
    {
        "field": "faces",
        "headerName": "Typical faces",
        "headerTooltip": "Mean faces per frame",
        **NUMBER,
        "minWidth": 100,
    },
    {"field": "status", "headerName": "Status", "minWidth": 110},
    {"field": "source", "headerName": "Source", "tooltipField": "source", "minWidth": 160},
]


@page.layout
def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Lecture sessions"),
            html.P(
                "Each row is one analysed lecture. Click a name (or its point on the chart) to see it minute by "
                "minute; tick rows to compare them. Sort by clicking a column title; filter in the boxes under the "
                "titles.",
                className="hint",
            ),
            html.Div(
                id="overview-toolbar",
                children=[
                    html.Label("Sessions started between", htmlFor="overview-dates"),
                    dcc.DatePickerRange(
                        id="overview-dates", clearable=True, display_format="YYYY-MM-DD", updatemode="bothdates"
                    ),
                    dcc.Link("Compare ticked sessions", href="/compare", id="overview-compare", className="button"),
                ],
                className="toolbar",
            ),
            html.Div(id="overview-message"),
            html.Div(
                id="overview-body",
                children=[
                    dcc.Graph(id="overview-chart", config=figures.GRAPH_CONFIG, style={"height": "340px"}),
                    dcc.Location(id="overview-go", refresh="callback-nav"),  # a click on a point opens its session
                    dag.AgGrid(
                        id="overview-table",
                        columnDefs=COLUMNS,
                        rowData=[],
                        defaultColDef={
                            "sortable": True,
                            "filter": True,
                            "floatingFilter": True,
                            "resizable": True,
                            "wrapHeaderText": True,
                            "autoHeaderHeight": True,
                        },
                        columnSize="responsiveSizeToFit",
                        getRowId="params.data.id",
                        dashGridOptions={
                            "pagination": True,
                            "paginationPageSize": 25,
                            "paginationPageSizeSelector": False,
                            "rowSelection": {"mode": "multiRow", "headerCheckbox": False},
                            "domLayout": "autoHeight",
                            "tooltipShowDelay": 300,
                        },
                        style={"width": "100%"},
                    ),
                ],
            ),
        ]
    )


@page.callback(
    Output("overview-table", "rowData"),
    Output("overview-chart", "figure"),
    Output("overview-message", "children"),
    Output("overview-body", "style"),
    Output("overview-toolbar", "style"),
    Input("overview-dates", "start_date"),
    Input("overview-dates", "end_date"),
)
def update_overview(start_date: str | None, end_date: str | None):
    view = overview_view(data_source(), start_date, end_date)
    message = empty_state(view.message) if view.message else None
    hidden = {"display": "none"}
    return (
        view.rows,
        view.figure or {},
        message,
        {} if view.rows else hidden,  # nothing to chart or list: the message says why
        {} if view.total else hidden,  # no sessions at all: no dates to pick either
    )


@page.callback(Output("overview-compare", "href"), Input("overview-table", "selectedRows"))
def compare_link(selected: list[dict] | None) -> str:
    ids = [str(row["id"]) for row in selected or []]
    return "/compare?ids=" + ",".join(ids) if ids else "/compare"


@page.callback(Output("overview-go", "href"), Input("overview-chart", "clickData"), prevent_initial_call=True)
def open_clicked_session(click: dict | None) -> str:
    """The session page of the point clicked on the chart (its id is the point's first custom field)."""
    points = (click or {}).get("points") or []
    custom = points[0].get("customdata") if points else None
    if not custom:
        return dash.no_update
    return f"/session/{int(custom[0])}"
