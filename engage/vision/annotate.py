"""Draw faces and their emotions on images: boxes with labels, and a panel of per-face probability charts.

Everything is drawn with OpenCV on in-memory arrays (a 1080p frame with a few faces takes a few ms), so the
live preview can call `draw_faces` on every frame. Colours are the Okabe–Ito palette, which stays
distinguishable with the common colour-vision deficiencies; labels are on a solid background so they read
on any photo, and their size follows the image (never smaller than `MIN_TEXT_PX`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from engage.emotions import EMOTIONS
from engage.vision.photos import FaceResult

# Okabe & Ito (2008) colour-blind-safe palette as RGB, one fixed colour per emotion.
EMOTION_RGB: dict[str, tuple[int, int, int]] = {
    "angry": (213, 94, 0),  # vermillion
    "disgust": (0, 158, 115),  # bluish green
    "fear": (204, 121, 167),  # reddish purple
    "happy": (230, 159, 0),  # orange
    "sad": (0, 114, 178),  # blue
    "surprise": (240, 228, 66),  # yellow
    "neutral": (86, 180, 233),  # sky blue
}
EMOTION_BGR: dict[str, tuple[int, int, int]] = {k: (b, g, r) for k, (r, g, b) in EMOTION_RGB.items()}
EMOTION_HEX: dict[str, str] = {k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in EMOTION_RGB.items()}
OUTLINE_BGR = (0, 0, 0)
UNKNOWN_BGR = (153, 153, 153)

MIN_TEXT_PX = 12  # smallest label cap height, in output pixels
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_PX = 22  # cap height of _FONT at scale 1.0 (cv2.getTextSize)


def _relative_luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_color(background_bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast ratio on `background_bgr`."""
    lum = _relative_luminance(background_bgr[::-1])
    on_black = (lum + 0.05) / 0.05
    on_white = 1.05 / (lum + 0.05)
    return (0, 0, 0) if on_black >= on_white else (255, 255, 255)


def emotion_color(label: str) -> tuple[int, int, int]:
    """The BGR colour of an emotion (grey for an unknown label)."""
    return EMOTION_BGR.get(label, UNKNOWN_BGR)


def face_label(face: FaceResult, number: int | None = None) -> str:
    """'happy 87%', or '3 happy 87%' with a face number."""
    text = f"{face.label} {face.emotions.get(face.label, 0.0):.0%}"
    return f"{number} {text}" if number is not None else text


def _thickness(text_px: float) -> int:
    return max(1, round(text_px / 11))


def _put_label(
    image: np.ndarray, text: str, x: int, y: int, text_px: float, color: tuple[int, int, int], below: bool = False
) -> tuple[int, int, int, int]:
    """Draw `text` on a solid `color` block whose bottom-left is (x, y) (top-left with `below`); return the block."""
    scale = text_px / _FONT_PX
    thick = _thickness(text_px)
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thick)
    pad = max(2, round(th * 0.3))
    bw, bh = tw + 2 * pad, th + base + pad
    height, width = image.shape[:2]
    x0 = int(min(max(0, x), max(0, width - bw)))
    y0 = int(y if below else y - bh)
    y0 = min(max(0, y0), max(0, height - bh))
    cv2.rectangle(image, (x0, y0), (x0 + bw - 1, y0 + bh - 1), color, cv2.FILLED)
    cv2.putText(image, text, (x0 + pad, y0 + pad + th), _FONT, scale, text_color(color), thick, cv2.LINE_AA)
    return x0, y0, bw, bh


def _text_px_for(image_shape: tuple[int, ...], box_w: int, text: str) -> float:
    """Label size: about 1.8% of the image's longer side, shrunk to stay near the face's width, >= MIN_TEXT_PX."""
    longer = max(image_shape[:2])
    base = max(MIN_TEXT_PX, 0.018 * longer)
    width_at_1 = cv2.getTextSize(text, _FONT, 1.0, 2)[0][0]
    fit = 1.5 * box_w / width_at_1 * _FONT_PX
    return max(MIN_TEXT_PX, min(base, fit))


def line_width(image_shape: tuple[int, ...]) -> int:
    """Box line width for an image: 2 px at 1000 px on the longer side, scaling with it, at least 1."""
    return max(1, round(max(image_shape[:2]) / 500))


def draw_faces(image_bgr: np.ndarray, faces: Sequence[FaceResult], *, numbered: bool = False) -> np.ndarray:
    """A copy of `image_bgr` with every face boxed in its emotion's colour and labelled 'happy 87%'.

    With `numbered`, labels start with the face's 1-based position in `faces` ('3 happy 87%'), matching
    the chart titles of `render_panel`. The input image is not modified.
    """
    if image_bgr.ndim == 2:
        out = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
    else:
        out = image_bgr[:, :, :3].copy()
    lw = line_width(out.shape)
    # Boxes first, then labels, so a label is never hidden under a neighbour's box.
    for face in faces:
        x, y, w, h = face.box
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), OUTLINE_BGR, lw + 2)
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), emotion_color(face.label), lw)
    for i, face in enumerate(faces, 1):
        x, y, w, h = face.box
        text = face_label(face, i if numbered else None)
        text_px = _text_px_for(out.shape, w, text)
        # Above the box where there is room, otherwise just inside its top edge.
        estimate = text_px * 1.9
        if y - (lw + 1) - estimate >= 0:
            _put_label(out, text, x - (lw + 1), y - (lw + 1), text_px, emotion_color(face.label))
        else:
            _put_label(out, text, x - (lw + 1), y + lw + 1, text_px, emotion_color(face.label), below=True)
    return out


def resize_with_faces(
    image_bgr: np.ndarray, faces: Sequence[FaceResult], factor: float
) -> tuple[np.ndarray, list[FaceResult]]:
    """The image scaled by `factor` and the faces' boxes scaled to match."""
    if factor == 1:
        return image_bgr, list(faces)
    h, w = image_bgr.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    resized = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return resized, [FaceResult([round(v * factor) for v in f.box], f.label, f.emotions) for f in faces]


def draw_faces_to_fit(
    image_bgr: np.ndarray, faces: Sequence[FaceResult], max_width: int = 1200, *, numbered: bool = True
) -> np.ndarray:
    """`draw_faces` on a copy shrunk to at most `max_width` px wide, so labels stay legible where it is shown."""
    factor = min(1.0, max_width / image_bgr.shape[1])
    return draw_faces(*resize_with_faces(image_bgr, faces, factor), numbered=numbered)


# Chart geometry at scale 1 (px).
_CHART_W, _ROW_H, _TITLE_H, _CHART_PAD = 300, 22, 30, 10
_CHART_H = _TITLE_H + len(EMOTIONS) * _ROW_H + 2 * _CHART_PAD


def draw_chart(face: FaceResult, number: int | None = None, scale: float = 1.0) -> np.ndarray:
    """A small white BGR image: the face's title ('3 happy 87%') and a horizontal bar per emotion."""
    w, h = round(_CHART_W * scale), round(_CHART_H * scale)
    pad, row, title_h = round(_CHART_PAD * scale), _ROW_H * scale, round(_TITLE_H * scale)
    chart = np.full((h, w, 3), 255, np.uint8)
    text_px = 13 * scale
    _put_label(chart, face_label(face, number), pad, pad, 16 * scale, emotion_color(face.label), below=True)
    name_w = cv2.getTextSize("surprise", _FONT, text_px / _FONT_PX, _thickness(text_px))[0][0] + round(6 * scale)
    value_w = cv2.getTextSize("100%", _FONT, text_px / _FONT_PX, _thickness(text_px))[0][0] + round(6 * scale)
    bar_x0 = pad + name_w
    bar_len = max(1, w - pad - value_w - bar_x0)
    for i, emotion in enumerate(EMOTIONS):
        top = round(pad + title_h + i * row)
        mid = round(top + row / 2)
        p = float(face.emotions.get(emotion, 0.0))
        ink = (0, 0, 0) if emotion == face.label else (70, 70, 70)
        tscale, tthick = text_px / _FONT_PX, _thickness(text_px)
        cv2.putText(chart, emotion, (pad, mid + round(text_px / 2)), _FONT, tscale, ink, tthick, cv2.LINE_AA)
        cv2.rectangle(chart, (bar_x0, top + 3), (bar_x0 + bar_len, round(top + row) - 3), (235, 235, 235), cv2.FILLED)
        end = bar_x0 + round(bar_len * min(max(p, 0.0), 1.0))
        if end > bar_x0:
            cv2.rectangle(chart, (bar_x0, top + 3), (end, round(top + row) - 3), emotion_color(emotion), cv2.FILLED)
            cv2.rectangle(chart, (bar_x0, top + 3), (end, round(top + row) - 3), (60, 60, 60), 1)
        cv2.putText(
            chart,
            f"{p:.0%}",
            (bar_x0 + bar_len + round(4 * scale), mid + round(text_px / 2)),
            _FONT,
            tscale,
            ink,
            tthick,
            cv2.LINE_AA,
        )
    cv2.rectangle(chart, (0, 0), (w - 1, h - 1), (200, 200, 200), 1)
    return chart


def render_panel(
    image_bgr: np.ndarray, faces: Sequence[FaceResult], *, min_height: int = 600, max_height: int = 1200
) -> np.ndarray:
    """The numbered annotated photo with, beside it, one probability chart per face (titles match the numbers).

    The photo is scaled to a height between `min_height` and `max_height` (it keeps its own height when that
    lies between them); the charts fill columns to its right. Returns one BGR image, ready for `cv2.imencode`.
    """
    h = image_bgr.shape[0]
    target = min(max(h, min_height), max_height)
    photo = draw_faces(*resize_with_faces(image_bgr, faces, target / h), numbered=True)
    target = photo.shape[0]
    gap = 12
    if not faces:
        note = np.full((target, 360, 3), 255, np.uint8)
        _put_label(note, "no face found", gap, gap, 18, (230, 230, 230), below=True)
        return np.hstack([photo, note])
    charts = [draw_chart(f, i) for i, f in enumerate(faces, 1)]
    per_column = max(1, (target - gap) // (_CHART_H + gap))
    columns = -(-len(charts) // per_column)
    height = max(target, gap + per_column * (_CHART_H + gap))
    side = np.full((height, gap + columns * (_CHART_W + gap), 3), 255, np.uint8)
    for i, chart in enumerate(charts):
        c, r = divmod(i, per_column)
        x, y = gap + c * (_CHART_W + gap), gap + r * (_CHART_H + gap)
        side[y : y + _CHART_H, x : x + _CHART_W] = chart
    canvas = np.full((height, photo.shape[1], 3), 255, np.uint8)
    canvas[:target] = photo
    return np.hstack([canvas, side])


def encode_png(image_bgr: np.ndarray) -> bytes:
    """PNG bytes of a BGR image (in memory); fast zlib settings, since photos hardly compress anyway."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]
    ok, buffer = cv2.imencode(".png", image_bgr, params)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise ValueError("could not encode the image as PNG")
    return buffer.tobytes()


def encode_jpeg(image_bgr: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a BGR image (in memory): ~20x faster than PNG for showing a photo in a browser."""
    ok, buffer = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover
        raise ValueError("could not encode the image as JPEG")
    return buffer.tobytes()


def annotation_paths(out_dir: Path, source: Path, taken: set[Path]) -> tuple[Path, Path]:
    """Where the annotated copy and the chart panel of `source` go: `<stem>.annotated.png`, `<stem>.panel.png`.

    A stem already used in this run (`taken`, updated here) gets `-2`, `-3`, ... so that two inputs never
    overwrite each other's output; files left by an earlier run are replaced.
    """
    stem = source.stem or "image"
    n = 1
    while True:
        name = stem if n == 1 else f"{stem}-{n}"
        annotated, panel = out_dir / f"{name}.annotated.png", out_dir / f"{name}.panel.png"
        if annotated not in taken:
            taken.add(annotated)
            return annotated, panel
        n += 1


def write_annotations(image_bgr: np.ndarray, faces: Sequence[FaceResult], annotated: Path, panel: Path) -> None:
    """Write the numbered annotated copy (same size as the image) and the chart panel as PNG files."""
    annotated.write_bytes(encode_png(draw_faces(image_bgr, faces, numbered=True)))
    panel.write_bytes(encode_png(render_panel(image_bgr, faces)))
