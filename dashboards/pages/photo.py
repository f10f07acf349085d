"""'Try a photo': upload a photo, see every face boxed with its emotion, a chart per face and a table.

Uploads arrive as a base64 data URL inside the callback's JSON request and are decoded in memory
(`cv2.imdecode` via engage.vision.photos.decode_image); nothing is written to disk or to the database.
"""

from __future__ import annotations

import base64
import binascii
import threading
import time

import dash
import numpy as np
from dash import Input, Output, State, dcc, html

from dashboards.pages import Page
from engage.emotions import EMOTIONS
from engage.vision.annotate import EMOTION_HEX, draw_faces_to_fit, encode_jpeg
from engage.vision.photos import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    NO_FACE_HINT,
    FaceResult,
    classify_image,
    decode_image,
)

page = Page("/photo", name="Try a photo", title="engage — try a photo", order=20)

# A data URL's base64 body is 4/3 of the file; refuse anything whose body is surely over the limit before decoding.
_MAX_BASE64_CHARS = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4

DISPLAY_WIDTH = 1200  # px: the annotated photo is sent at most this wide

_analyzer = None
_analyzer_lock = threading.Lock()  # also serialises analysis: the detector and interpreter are not thread-safe


def _config():
    """The config the dashboard was started with (callbacks run inside its Flask app)."""
    from dashboards.app import app_config

    return app_config()


def _get_analyzer():
    """One detector + classifier per server process, built on the first upload."""
    global _analyzer
    if _analyzer is None:  # callers hold _analyzer_lock
        from engage.vision.photos import photo_analyzer

        _analyzer = photo_analyzer(_config())
    return _analyzer


def analyze_upload(contents: str) -> tuple[np.ndarray, list[FaceResult]]:
    """Decode a dcc.Upload data URL in memory and classify its faces; ValueError with a user-facing reason."""
    header, sep, body = contents.partition(",")
    if not sep or ";base64" not in header:
        raise ValueError("the upload could not be read; try again")
    if len(body) > _MAX_BASE64_CHARS:
        mb = len(body) * 3 // 4 / (1024 * 1024)
        raise ValueError(f"the file is {mb:.1f} MB, over the {MAX_IMAGE_BYTES // (1024 * 1024)} MB limit")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the upload could not be read; try again") from None
    image = decode_image(data)
    del data
    with _analyzer_lock:
        faces = classify_image(image, _get_analyzer())
    return image, faces


def _message(text: str, kind: str) -> html.Div:
    colours = {"error": ("#fbe9e7", "#a23b00"), "info": ("#e8f1fa", "#0b4a75")}
    background, border = colours[kind]
    return html.Div(
        text,
        id="photo-message",
        className=f"photo-message photo-{kind}",
        role="alert" if kind == "error" else "status",
        style={
            "background": background,
            "borderLeft": f"4px solid {border}",
            "padding": "10px 14px",
            "margin": "12px 0",
            "color": "#1a1a1a",
        },
    )


def _charts(faces: list[FaceResult]):
    """One plotly figure: a horizontal bar chart of the seven probabilities per face, titled like the labels."""
    from plotly.subplots import make_subplots

    cols = min(len(faces), 4)
    rows = -(-len(faces) // cols)
    titles = [f"{i} {f.label} {f.emotions[f.label]:.0%}" for i, f in enumerate(faces, 1)]
    figure = make_subplots(
        rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.12, vertical_spacing=0.5 / rows
    )
    names = list(EMOTIONS)
    for i, face in enumerate(faces):
        values = [face.emotions[e] for e in names]
        figure.add_bar(
            x=values,
            y=names,
            orientation="h",
            marker={"color": [EMOTION_HEX[e] for e in names], "line": {"color": "#333", "width": 0.5}},
            text=[f"{v:.0%}" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1%}<extra>face " + str(i + 1) + "</extra>",
            showlegend=False,
            row=i // cols + 1,
            col=i % cols + 1,
        )
    figure.update_xaxes(range=[0, 1.25], tickformat=".0%", tickvals=[0, 0.5, 1], fixedrange=True)
    figure.update_yaxes(autorange="reversed", fixedrange=True)
    figure.update_layout(
        height=60 + 230 * rows, margin={"l": 10, "r": 10, "t": 40, "b": 20}, plot_bgcolor="#fafafa", bargap=0.25
    )
    return dcc.Graph(
        id="photo-charts", figure=figure, config={"displayModeBar": False}, style={"maxWidth": f"{cols * 300}px"}
    )


def _table(faces: list[FaceResult]) -> html.Table:
    cell = {"padding": "4px 10px", "textAlign": "right", "borderBottom": "1px solid #ddd"}
    head = html.Tr(
        [html.Th(t, style={**cell, "textAlign": "left"}) for t in ("face", "emotion")]
        + [html.Th(e, style=cell) for e in EMOTIONS]
    )
    rows = [
        html.Tr(
            [
                html.Td(str(i), style={**cell, "textAlign": "left"}),
                html.Td(f.label, style={**cell, "textAlign": "left"}),
            ]
            + [
                html.Td(f"{f.emotions[e]:.1%}", style={**cell, "fontWeight": "bold" if e == f.label else "normal"})
                for e in EMOTIONS
            ]
        )
        for i, f in enumerate(faces, 1)
    ]
    return html.Table([html.Thead(head), html.Tbody(rows)], id="photo-table", style={"borderCollapse": "collapse"})


@page.layout
def layout(**_query) -> html.Div:
    megapixels = MAX_IMAGE_PIXELS // 1_000_000
    megabytes = MAX_IMAGE_BYTES // (1024 * 1024)
    return html.Div(
        [
            html.H1("Try a photo"),
            html.P(
                className="hint",
                children="Check that the model sees what you see before you trust it with a lecture: drop in a photo "
                "and every face it finds is boxed with its most likely emotion, with the probabilities of all seven.",
            ),
            html.P(
                className="hint",
                children=[
                    html.Strong("Privacy: "),
                    "the photo is analysed in this server's memory and then discarded. Nothing you upload is "
                    "written to disk or to the database.",
                ],
                id="photo-privacy",
            ),
            dcc.Upload(
                id="photo-upload",
                children=html.Div(
                    [
                        "Drag and drop a photo here, or ",
                        html.Span("choose a file", style={"textDecoration": "underline", "color": "#0072B2"}),
                        html.Br(),
                        html.Small(f"JPEG, PNG or WebP, up to {megabytes} MB and {megapixels} megapixels"),
                    ]
                ),
                multiple=False,
                style={
                    "border": "2px dashed #777",
                    "borderRadius": "8px",
                    "padding": "28px",
                    "textAlign": "center",
                    "cursor": "pointer",
                    "background": "#fafafa",
                },
            ),
            dcc.Loading(html.Div(id="photo-result"), type="circle"),
        ],
        style={"maxWidth": "1200px"},
    )


@page.callback(
    Output("photo-result", "children"),
    Input("photo-upload", "contents"),
    State("photo-upload", "filename"),
    prevent_initial_call=True,
)
def show_photo(contents: str | None, filename: str | None):
    if not contents:
        return dash.no_update
    name = filename or "the file"
    started = time.perf_counter()
    try:
        image, faces = analyze_upload(contents)
    except ValueError as exc:
        return _message(f"{name}: {exc}", "error")
    seconds = time.perf_counter() - started
    # Drawn at the size it is shown (the page is at most 1200 px wide), so labels stay legible.
    jpeg = encode_jpeg(draw_faces_to_fit(image, faces, DISPLAY_WIDTH), quality=92)
    annotated = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    h, w = image.shape[:2]
    del image
    img = html.Img(
        id="photo-annotated",
        src=annotated,
        alt=f"{name} with {len(faces)} face(s) boxed and labelled",
        style={"maxWidth": "100%", "height": "auto", "border": "1px solid #ccc"},
    )
    if not faces:
        min_face = _config().detector.min_face
        return [_message(f"{name} ({w}x{h}): {NO_FACE_HINT.format(min_face=min_face)}.", "error"), img]
    summary = f"{name} ({w}x{h}): {len(faces)} face(s) in {seconds:.2f} s. Numbers on the photo match the charts."
    return [_message(summary, "info"), img, _charts(faces), html.H3("Probabilities"), _table(faces)]
