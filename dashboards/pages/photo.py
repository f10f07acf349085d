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
from engage.palette import emotion_hex, ink_hex
from engage.vision.annotate import draw_faces_to_fit, encode_jpeg
from engage.vision.photos import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    NO_FACE_HINT,
    FaceResult,
    classify_image,
    decode_image,
)
from engage.vision.summary import PhotoSummary, summarise_faces

page = Page("/photo", name="Try a photo", title="engage — try a photo", order=20)

# A data URL's base64 body is 4/3 of the file; refuse anything whose body is surely over the limit before decoding.
_MAX_BASE64_CHARS = (MAX_IMAGE_BYTES + 2) // 3 * 4 + 4

DISPLAY_WIDTH, DISPLAY_HEIGHT = 1000, 900  # px: the annotated photo is sent at most this large

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


def _bar_row(name: str, share: float, value: str, colour: str, strong: bool) -> html.Div:
    """One row of a bar chart: the name, a bar `share` (0-1) of the track long, the value."""
    return html.Div(
        [
            html.Span(name, className="bar-name"),
            html.Span(
                html.Span(
                    className="bar-fill", style={"width": f"{min(max(share, 0.0), 1.0):.1%}", "background": colour}
                ),
                className="bar-track",
            ),
            html.Span(value, className="bar-value"),
        ],
        className="bar-row strong" if strong else "bar-row",
    )


def _title(text: str, label: str) -> html.Div:
    return html.Div(text, className="face-title", style={"background": emotion_hex(label), "color": ink_hex(label)})


def face_card(number: int, face: FaceResult) -> html.Div:
    """A face's seven probabilities as bars, titled like its label on the photo ('3 happy 87%')."""
    return html.Div(
        [_title(f"{number} {face.label} {face.emotions[face.label]:.0%}", face.label)]
        + [_bar_row(e, face.emotions[e], f"{face.emotions[e]:.0%}", emotion_hex(e), e == face.label) for e in EMOTIONS],
        className="face-card",
        id=f"photo-face-{number}",
    )


def summary_card(summary: PhotoSummary) -> html.Div:
    """The whole photo at a glance: faces found, their mean engagement and bands, faces per strongest emotion."""
    parts: list = [html.H2(f"{summary.faces} faces", className="summary-count")]
    if summary.engagement is not None:
        parts += [
            html.Div(
                [html.Span("Mean engagement "), html.Strong(f"{summary.engagement:.2f}", id="photo-engagement")],
                className="summary-engagement",
            ),
            html.Div(
                html.Span(className="bar-fill", style={"width": f"{summary.engagement:.1%}", "background": "#333"}),
                className="bar-track gauge",
                title="0 = none, 1 = full",
            ),
            html.P(
                f"0 = none, 1 = full, from facial expressions only. Faces highly engaged {summary.high:.0%}, "
                f"nominal {summary.nominal:.0%}, low {summary.low:.0%}.",
                className="hint small",
            ),
        ]
    ranked = dict(summary.ranked())
    top = max(ranked.values(), default=1)
    order = sorted(EMOTIONS, key=lambda e: -ranked.get(e, 0))  # most faces first; the rest in label order
    parts += [
        html.H3("Faces by strongest emotion"),
        html.Div(
            [
                _bar_row(
                    e,
                    ranked.get(e, 0) / top,
                    f"{ranked.get(e, 0)} ({ranked.get(e, 0) / summary.faces:.0%})",
                    emotion_hex(e),
                    bool(ranked.get(e)),
                )
                for e in order
            ],
            id="photo-emotion-counts",
            className="bar-chart",
        ),
        html.P(
            "The model reads expressions, not feelings: read these figures for the group, never for one person.",
            className="hint small",
        ),
    ]
    return html.Div(parts, id="photo-summary", className="photo-summary")


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
        className="photo-page",
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
    # Drawn at the size it is shown (beside the summary on a page at most 1400 px wide), so labels stay legible.
    jpeg = encode_jpeg(draw_faces_to_fit(image, faces, DISPLAY_WIDTH, max_height=DISPLAY_HEIGHT), quality=92)
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
    cards = [face_card(i, f) for i, f in enumerate(faces, 1)]
    if len(faces) == 1:  # one face: its chart beside the photo says it all
        top = [html.Div(img, className="photo-image"), html.Div(cards, className="photo-side")]
        return [_message(summary, "info"), html.Div(top, className="photo-top"), _details(faces, True)]
    side = summary_card(summarise_faces(faces, _config().engagement))
    return [
        _message(summary, "info"),
        html.Div(
            [html.Div(img, className="photo-image"), html.Div(side, className="photo-side")], className="photo-top"
        ),
        html.H3("Each face, numbered as on the photo"),
        html.Div(cards, id="photo-charts", className="face-grid"),
        _details(faces, len(faces) <= 8),
    ]


def _details(faces: list[FaceResult], open_: bool) -> html.Details:
    """The probabilities table, folded away for a group (the cards above hold the same figures)."""
    return html.Details(
        [html.Summary(f"Probabilities of {'the face' if len(faces) == 1 else 'every face'} as a table"), _table(faces)],
        open=open_,
        id="photo-details",
    )
