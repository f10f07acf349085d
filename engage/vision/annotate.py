"""Draw faces and their emotions on images: boxes with labels, and a panel of per-face probability charts.

Everything is drawn with OpenCV on in-memory arrays (a 1080p frame with a few faces takes a few ms), so the
live preview can call `draw_faces` on every frame. Colours are engage's one emotion palette (engage/palette.py,
Okabe–Ito, distinguishable with the common colour-vision deficiencies), as on the dashboard; labels are on a
solid background so they read on any photo, and their size follows the image (never smaller than `MIN_TEXT_PX`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from engage.config import EngagementConfig
from engage.emotions import EMOTIONS
from engage.palette import EMOTION_BGR, UNKNOWN_BGR, ink_rgb
from engage.vision.photos import FaceResult
from engage.vision.summary import PhotoSummary, summarise_faces

OUTLINE_BGR = (0, 0, 0)

MIN_TEXT_PX = 12  # smallest label cap height, in output pixels
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_PX = 22  # cap height of _FONT at scale 1.0 (cv2.getTextSize)


def text_color(background_bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast ratio on `background_bgr`."""
    return ink_rgb(background_bgr[::-1])[::-1]  # type: ignore[return-value]


def emotion_color(label: str) -> tuple[int, int, int]:
    """The BGR colour of an emotion (grey for an unknown label)."""
    return EMOTION_BGR.get(label, UNKNOWN_BGR)


def face_label(face: FaceResult, number: int | None = None) -> str:
    """'happy 87%', or '3 happy 87%' with a face number."""
    text = f"{face.label} {face.emotions.get(face.label, 0.0):.0%}"
    return f"{number} {text}" if number is not None else text


def _thickness(text_px: float) -> int:
    return max(1, round(text_px / 11))


def _label_block(
    image_shape: tuple[int, ...], text: str, x: int, y: int, text_px: float, below: bool = False
) -> tuple[int, int, int, int, int, int]:
    """Where `_put_label` draws: the block (x0, y0, width, height), its padding and the text's cap height."""
    (tw, th), base = cv2.getTextSize(text, _FONT, text_px / _FONT_PX, _thickness(text_px))
    pad = max(2, round(th * 0.3))
    bw, bh = tw + 2 * pad, th + base + pad
    height, width = image_shape[:2]
    x0 = int(min(max(0, x), max(0, width - bw)))
    y0 = int(y if below else y - bh)
    y0 = min(max(0, y0), max(0, height - bh))
    return x0, y0, bw, bh, pad, th


def _put_label(
    image: np.ndarray, text: str, x: int, y: int, text_px: float, color: tuple[int, int, int], below: bool = False
) -> tuple[int, int, int, int]:
    """Draw `text` on a solid `color` block whose bottom-left is (x, y) (top-left with `below`); return the block."""
    x0, y0, bw, bh, pad, th = _label_block(image.shape, text, x, y, text_px, below)
    cv2.rectangle(image, (x0, y0), (x0 + bw - 1, y0 + bh - 1), color, cv2.FILLED)
    ink = text_color(color)
    cv2.putText(
        image, text, (x0 + pad, y0 + pad + th), _FONT, text_px / _FONT_PX, ink, _thickness(text_px), cv2.LINE_AA
    )
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


def _face_text(face: FaceResult, number: int | None, numbers_only: bool) -> str:
    return str(number) if numbers_only and number is not None else face_label(face, number)


def _label_place(image_shape: tuple[int, ...], face: FaceResult, text: str) -> tuple[int, int, float, bool]:
    """(x, y, text size, below) of a face's label: above its box where there is room, else just inside the top."""
    lw = line_width(image_shape)
    x, y, w, _h = face.box
    text_px = _text_px_for(image_shape, w, text)
    if text.isdigit():  # a number alone (a crowded photo): small enough not to cover the faces around it
        text_px = max(MIN_TEXT_PX, min(text_px, 0.4 * w))
    if y - (lw + 1) - text_px * 1.9 >= 0:
        return x - (lw + 1), y - (lw + 1), text_px, False
    return x - (lw + 1), y + lw + 1, text_px, True


def _overlap(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two (x, y, w, h) rectangles share more than a pixel's edge."""
    return a[0] < b[0] + b[2] - 1 and b[0] < a[0] + a[2] - 1 and a[1] < b[1] + b[3] - 1 and b[1] < a[1] + a[3] - 1


def labels_collide(image_shape: tuple[int, ...], faces: Sequence[FaceResult], share: float = 0.1) -> bool:
    """Whether more than `share` of the faces' numbered labels ('3 happy 87%') would cover another label or face.

    A crowded group photo then reads better with numbers alone on the photo and the rest in the charts.
    """
    blocks = []
    for i, face in enumerate(faces, 1):
        x, y, text_px, below = _label_place(image_shape, face, face_label(face, i))
        blocks.append(_label_block(image_shape, face_label(face, i), x, y, text_px, below)[:4])
    hidden = sum(
        any(_overlap(block, other) for j, other in enumerate(blocks) if j != i)
        or any(_overlap(block, face.box) for j, face in enumerate(faces) if j != i)
        for i, block in enumerate(blocks)
    )
    return hidden > share * len(faces)


def draw_faces(
    image_bgr: np.ndarray, faces: Sequence[FaceResult], *, numbered: bool = False, numbers_only: bool = False
) -> np.ndarray:
    """A copy of `image_bgr` with every face boxed in its emotion's colour and labelled 'happy 87%'.

    With `numbered`, labels start with the face's 1-based position in `faces` ('3 happy 87%'), matching
    the chart titles of `render_panel`; with `numbers_only` as well, the label is the number alone ('3'), for
    crowded photos (`labels_collide`) whose charts give the rest. The input image is not modified.
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
        if face.pose is not None:
            draw_head_direction(out, face, lw)
    for i, face in enumerate(faces, 1):
        text = _face_text(face, i if numbered else None, numbers_only)
        x, y, text_px, below = _label_place(out.shape, face, text)
        _put_label(out, text, x, y, text_px, emotion_color(face.label), below=below)
    return out


def head_direction_tip(face: FaceResult) -> tuple[int, int]:
    """Where the head-direction arrow from the box's centre ends: toward where the face points, as seen in the
    image (yaw > 0, the person's own right, is the image's left; pitch > 0, up, is up), half a box long at 90 deg."""
    assert face.pose is not None
    x, y, w, h = face.box
    length = 0.5 * max(w, h)
    yaw, pitch = np.radians(face.pose.yaw), np.radians(face.pose.pitch)
    return round(x + w / 2 - length * np.sin(yaw)), round(y + h / 2 - length * np.sin(pitch))


def draw_head_direction(image: np.ndarray, face: FaceResult, lw: int) -> None:
    """A small arrow from the face's centre in the direction the head points (outlined, in the box's colour)."""
    x, y, w, h = face.box
    centre, tip = (x + w // 2, y + h // 2), head_direction_tip(face)
    if centre == tip:
        return
    for colour, width in ((OUTLINE_BGR, lw + 2), (emotion_color(face.label), lw)):
        cv2.arrowedLine(image, centre, tip, colour, width, cv2.LINE_AA, tipLength=0.3)


def resize_with_faces(
    image_bgr: np.ndarray, faces: Sequence[FaceResult], factor: float
) -> tuple[np.ndarray, list[FaceResult]]:
    """The image scaled by `factor` and the faces' boxes scaled to match."""
    if factor == 1:
        return image_bgr, list(faces)
    h, w = image_bgr.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    resized = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
    return resized, [dataclasses.replace(f, box=[round(v * factor) for v in f.box]) for f in faces]


def draw_faces_to_fit(
    image_bgr: np.ndarray,
    faces: Sequence[FaceResult],
    max_width: int = 1200,
    *,
    max_height: int | None = None,
    numbered: bool = True,
) -> np.ndarray:
    """`draw_faces` on a copy shrunk to at most `max_width` (and `max_height`) px, so labels stay legible where
    it is shown; numbered labels become numbers alone where they would cover each other."""
    factor = min(1.0, max_width / image_bgr.shape[1])
    if max_height is not None:
        factor = min(factor, max_height / image_bgr.shape[0])
    image, scaled = resize_with_faces(image_bgr, faces, factor)
    return _draw_numbered(image, scaled) if numbered else draw_faces(image, scaled)


def _draw_numbered(image_bgr: np.ndarray, faces: Sequence[FaceResult]) -> np.ndarray:
    """Numbered labels, or numbers alone where full labels would cover each other."""
    return draw_faces(image_bgr, faces, numbered=True, numbers_only=labels_collide(image_bgr.shape, faces))


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


GROUP_WIDTH = (1000, 1600)  # px: a group photo's width in its panel, so the chart grid below has 5-6 columns
SUMMARY_W = 440  # px: the whole-photo summary beside a group photo
_GROUP_CHART_W = 260  # px: the narrowest chart in a group panel's grid


def _text(image: np.ndarray, text: str, x: int, baseline: int, text_px: float, ink=(0, 0, 0), bold=False) -> int:
    """Plain text with its baseline at `baseline`; returns its width."""
    thick = _thickness(text_px) + (1 if bold else 0)
    cv2.putText(image, text, (x, baseline), _FONT, text_px / _FONT_PX, ink, thick, cv2.LINE_AA)
    return cv2.getTextSize(text, _FONT, text_px / _FONT_PX, thick)[0][0]


def _wrapped(image: np.ndarray, text: str, x: int, baseline: int, width: int, text_px: float, ink) -> int:
    """`text` in lines no wider than `width`; returns the baseline after the last line."""
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and cv2.getTextSize(candidate, _FONT, text_px / _FONT_PX, _thickness(text_px))[0][0] > width:
            _text(image, line, x, baseline, text_px, ink)
            baseline += round(text_px * 1.7)
            line = word
        else:
            line = candidate
    if line:
        _text(image, line, x, baseline, text_px, ink)
        baseline += round(text_px * 1.7)
    return baseline


def draw_summary(summary: PhotoSummary, width: int = SUMMARY_W, height: int = 0) -> np.ndarray:
    """The whole photo on a white card: faces found, their mean engagement and bands, faces per strongest emotion.

    At least `height` px tall (the photo beside it), taller when the figures need it.
    """
    pad, grey = 18, (90, 90, 90)
    inner = width - 2 * pad
    card = np.full((max(height, 600), width, 3), 255, np.uint8)
    y = pad + 30
    _text(card, f"{summary.faces} face{'s' if summary.faces != 1 else ''}", pad, y, 28, bold=True)
    y += 46
    if summary.engagement is not None:
        _text(card, f"mean engagement {summary.engagement:.2f}", pad, y, 18, bold=True)
        y += 12
        mark = pad + round(inner * min(max(summary.engagement, 0.0), 1.0))
        cv2.rectangle(card, (pad, y), (width - pad, y + 14), (235, 235, 235), cv2.FILLED)
        cv2.rectangle(card, (pad, y), (mark, y + 14), (60, 60, 60), cv2.FILLED)
        cv2.rectangle(card, (pad, y), (width - pad, y + 14), (150, 150, 150), 1)
        y += 34
        high, nominal, low = summary.high or 0.0, summary.nominal or 0.0, summary.low or 0.0
        y = _wrapped(
            card,
            f"0 = none, 1 = full, from expressions only. Faces highly engaged {high:.0%}, nominal {nominal:.0%}, "
            f"low {low:.0%}.",
            pad,
            y,
            inner,
            13,
            grey,
        )
        y += 16
    _text(card, "Faces by strongest emotion", pad, y, 16, bold=True)
    y += 12
    ranked = dict(summary.ranked())
    order = sorted(EMOTIONS, key=lambda e: -ranked.get(e, 0))  # most faces first; the rest in label order
    row_px = 15
    name_w = cv2.getTextSize("surprise", _FONT, row_px / _FONT_PX, _thickness(row_px))[0][0] + 12
    value_w = cv2.getTextSize("57 (100%)", _FONT, row_px / _FONT_PX, _thickness(row_px))[0][0] + 12
    bar_x0, top_count = pad + name_w, max(1, max(summary.counts.values(), default=0))
    bar_len = width - pad - value_w - bar_x0
    for emotion in order:
        n = summary.counts.get(emotion, 0)
        ink = (0, 0, 0) if n else grey
        _text(card, emotion, pad, y + 22, row_px, ink)
        end = bar_x0 + round(bar_len * n / top_count)
        if n:
            cv2.rectangle(card, (bar_x0, y + 6), (end, y + 26), emotion_color(emotion), cv2.FILLED)
            cv2.rectangle(card, (bar_x0, y + 6), (end, y + 26), (60, 60, 60), 1)
        share = n / summary.faces if summary.faces else 0.0
        _text(card, f"{n} ({share:.0%})", end + 8, y + 22, row_px, ink)
        y += 32
    y += 24
    note = (
        "Numbers on the photo match the charts below. The model reads expressions, not feelings: "
        "read these figures for the group, never for one person."
    )
    y = _wrapped(card, note, pad, y, inner, 13, grey)
    if y > card.shape[0]:
        card = np.vstack([card, np.full((y - card.shape[0] + pad, width, 3), 255, np.uint8)])
    cv2.rectangle(card, (0, 0), (width - 1, card.shape[0] - 1), (200, 200, 200), 1)
    return card


def _fit(image: np.ndarray, height: int) -> np.ndarray:
    """`image` on a white canvas `height` px tall (image at the top)."""
    if image.shape[0] >= height:
        return image
    return np.vstack([image, np.full((height - image.shape[0], image.shape[1], 3), 255, np.uint8)])


def _group_panel(
    image_bgr: np.ndarray, faces: Sequence[FaceResult], summary: PhotoSummary, max_height: int, gap: int
) -> np.ndarray:
    """Summary first: the photo beside the whole-photo summary, then every face's chart in a grid below."""
    h, w = image_bgr.shape[:2]
    factor = min(max(w, GROUP_WIDTH[0]), GROUP_WIDTH[1]) / w
    factor = min(factor, max_height / h)
    photo = _draw_numbered(*resize_with_faces(image_bgr, faces, factor))
    card = draw_summary(summary, SUMMARY_W, photo.shape[0])
    top_h = max(photo.shape[0], card.shape[0])
    width = gap + photo.shape[1] + gap + SUMMARY_W + gap
    columns = max(1, (width - gap) // (_GROUP_CHART_W + gap))
    scale = ((width - gap) / columns - gap) / _CHART_W
    charts = [draw_chart(f, i, scale) for i, f in enumerate(faces, 1)]
    cw, ch = charts[0].shape[1], charts[0].shape[0]
    rows = -(-len(charts) // columns)
    canvas = np.full((gap + top_h + gap + rows * (ch + gap), width, 3), 255, np.uint8)
    canvas[gap : gap + top_h, gap : gap + photo.shape[1]] = _fit(photo, top_h)
    canvas[gap : gap + top_h, 2 * gap + photo.shape[1] : width - gap] = _fit(card, top_h)
    for i, chart in enumerate(charts):
        r, c = divmod(i, columns)  # row by row, in the photo's reading order
        x, y = gap + c * (cw + gap), 2 * gap + top_h + r * (ch + gap)
        canvas[y : y + ch, x : x + cw] = chart
    return canvas


def render_panel(
    image_bgr: np.ndarray,
    faces: Sequence[FaceResult],
    *,
    engagement: EngagementConfig | None = None,
    min_height: int = 600,
    max_height: int = 1200,
) -> np.ndarray:
    """The numbered annotated photo with one probability chart per face (titles match the numbers on the photo).

    A few faces: the photo, scaled to a height between `min_height` and `max_height`, with their charts in one
    or two columns to its right. A group: the photo (1000-1600 px wide) beside a summary of the whole photo
    (faces per strongest emotion and, given the `engagement` settings, their mean engagement), then every
    face's chart in a grid as wide as both. Returns one BGR image, ready for `cv2.imencode`.
    """
    h = image_bgr.shape[0]
    target = min(max(h, min_height), max_height)
    gap = 12
    if not faces:
        photo = draw_faces(*resize_with_faces(image_bgr, faces, target / h), numbered=True)
        note = np.full((photo.shape[0], 360, 3), 255, np.uint8)
        _put_label(note, "no face found", gap, gap, 18, (230, 230, 230), below=True)
        return np.hstack([photo, note])
    per_column = max(1, (target - gap) // (_CHART_H + gap))
    if len(faces) > 2 * per_column:
        return _group_panel(image_bgr, faces, summarise_faces(faces, engagement), max_height, gap)
    photo = _draw_numbered(*resize_with_faces(image_bgr, faces, target / h))
    target = photo.shape[0]
    charts = [draw_chart(f, i) for i, f in enumerate(faces, 1)]
    columns = -(-len(charts) // per_column)
    height = max(target, gap + per_column * (_CHART_H + gap))
    side = np.full((height, gap + columns * (_CHART_W + gap), 3), 255, np.uint8)
    for i, chart in enumerate(charts):
        c, r = divmod(i, per_column)
        x, y = gap + c * (_CHART_W + gap), gap + r * (_CHART_H + gap)
        side[y : y + _CHART_H, x : x + _CHART_W] = chart
    return np.hstack([_fit(photo, height), side])


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


def write_annotations(
    image_bgr: np.ndarray,
    faces: Sequence[FaceResult],
    annotated: Path,
    panel: Path,
    engagement: EngagementConfig | None = None,
) -> None:
    """Write the numbered annotated copy (same size as the image) and the chart panel as PNG files.

    With the `engagement` settings (config.engagement) a group photo's summary also gives the mean engagement.
    """
    annotated.write_bytes(encode_png(draw_faces(image_bgr, faces, numbered=True)))
    panel.write_bytes(encode_png(render_panel(image_bgr, faces, engagement=engagement)))
