"""One emotion, one colour: the session page, the photo page and annotated photos all draw an emotion alike."""

from __future__ import annotations

import numpy as np

from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics
from engage.palette import EMOTION_BGR, EMOTION_HEX, EMOTION_RGB, hex_to_rgb, ink_hex
from engage.vision.photos import FaceResult


def _minute() -> MinuteMetrics:
    m = MinuteMetrics(0, 0.0, 59.0, 60, 60, 600, 10.0, 10, False)
    m.emotion_mean = dict.fromkeys(EMOTIONS, 1 / 7)
    m.emotion_top_share = dict.fromkeys(EMOTIONS, 1 / 7)
    m.engagement = 0.6
    return m


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        yield from _walk(child)


def test_each_emotion_is_drawn_in_the_same_colour_on_every_surface() -> None:
    from dashboards import figures
    from dashboards.pages.photo import face_card
    from engage.vision.annotate import draw_faces

    seen: dict[str, dict[str, str]] = {e: {} for e in EMOTIONS}
    timeline = figures.emotion_timeline([_minute()])
    for trace in timeline["data"]:
        if trace.get("fill"):
            seen[trace["name"]]["session page, emotions over time"] = trace["fillcolor"]
    bars = figures.dominant_emotions([_minute()])["data"][0]
    for emotion, colour in zip(bars["y"], bars["marker"]["color"], strict=True):
        seen[emotion]["session page, dominant emotions"] = colour

    face = FaceResult([20, 30, 60, 60], "happy", {e: 1 / 7 for e in EMOTIONS})
    for component in _walk(face_card(1, face)):
        if "bar-row" in str(getattr(component, "className", "")).split():
            name = component.children[0].children
            seen[name]["photo page, a face's chart"] = component.children[1].children.style["background"]

    for emotion in EMOTIONS:  # an annotated photo: the box of a face whose strongest emotion it is
        labelled = FaceResult([20, 30, 60, 60], emotion, {e: 1 / 7 for e in EMOTIONS})
        image = draw_faces(np.full((120, 120, 3), 255, np.uint8), [labelled])
        b, g, r = (int(v) for v in image[30 + 40, 20])  # the left edge of the box
        seen[emotion]["annotated photo"] = f"#{r:02X}{g:02X}{b:02X}"

    for emotion, surfaces in seen.items():
        assert len(surfaces) == 4, (emotion, surfaces)
        assert {c.upper() for c in surfaces.values()} == {EMOTION_HEX[emotion]}, (emotion, surfaces)


def test_the_palette_is_seven_distinct_okabe_ito_colours_with_readable_labels() -> None:
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert set(EMOTION_HEX) == set(EMOTIONS) and set(EMOTION_HEX.values()) == okabe_ito
    for emotion, colour in EMOTION_HEX.items():
        assert EMOTION_RGB[emotion] == hex_to_rgb(colour) and EMOTION_BGR[emotion] == hex_to_rgb(colour)[::-1]
    assert ink_hex("sad") == "#FFFFFF" and ink_hex("surprise") == "#000000"  # white on blue, black on yellow
