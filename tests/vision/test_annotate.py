"""Annotated photos: boxes and labels drawn where the real faces are, the chart panel, the limits, the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from faces import group_photo

from engage.config import load_config
from engage.emotions import EMOTIONS
from engage.minutes.aggregate import MinuteAggregator
from engage.palette import EMOTION_BGR, EMOTION_RGB
from engage.paths import shared_data_dir
from engage.types import Box, FrameFaces
from engage.vision.annotate import (
    GROUP_WIDTH,
    SUMMARY_W,
    annotation_paths,
    draw_faces,
    draw_summary,
    labels_collide,
    line_width,
    render_panel,
    text_color,
)
from engage.vision.photos import (
    MAX_IMAGE_BYTES,
    NOT_AN_IMAGE,
    FaceResult,
    classify_image,
    decode_image,
    photo_analyzer,
    reading_order,
)
from engage.vision.summary import summarise_faces


@pytest.fixture(scope="module")
def analyzer():
    return photo_analyzer(load_config(None))


@pytest.fixture(scope="module")
def group():
    return group_photo(30)


@pytest.fixture(scope="module")
def group_faces(group, analyzer):
    return classify_image(group[0], analyzer)


def edge_share(image: np.ndarray, box: list[int], color: tuple[int, int, int], sides: str = "lrb") -> float:
    """Share of the pixels on a box's inner edge line (left, right, bottom, top) that have exactly `color`."""
    x, y, w, h = box
    lines = {
        "l": image[y + 2 : y + h - 2, x],
        "r": image[y + 2 : y + h - 2, x + w - 1],
        "b": image[y + h - 1, x + 2 : x + w - 2],
        "t": image[y, x + 2 : x + w - 2],
    }
    pixels = np.concatenate([lines[s] for s in sides])
    return float(np.mean(np.all(pixels == np.array(color, np.uint8), axis=1)))


def test_astronaut_is_boxed_in_the_happy_colour_and_nothing_else_changes(astronaut_bgr, analyzer):
    original = astronaut_bgr.copy()
    (face,) = classify_image(astronaut_bgr, analyzer)
    out = draw_faces(astronaut_bgr, [face])
    assert np.array_equal(astronaut_bgr, original), "the input image must not be modified"
    assert out.shape == astronaut_bgr.shape and out.dtype == np.uint8
    assert face.label == "happy"
    assert edge_share(out, face.box, EMOTION_BGR["happy"], "lrbt") > 0.95
    # The same edge pixels were not that colour in the photo.
    assert edge_share(astronaut_bgr, face.box, EMOTION_BGR["happy"], "lrbt") < 0.05
    # Changes stay near the box and its label: the lower half of the image (the suit, the helmet) is untouched.
    x, y, w, h = face.box
    assert np.array_equal(out[y + h + 10 :], astronaut_bgr[y + h + 10 :])
    changed_rows = np.flatnonzero(np.any(out != astronaut_bgr, axis=(1, 2)))
    assert changed_rows.min() < y, "the label sits above the face"


def label_height(out: np.ndarray, original: np.ndarray, box: list[int], color) -> int:
    """Rows above the box where the label's solid background (the emotion colour) was painted."""
    x, y, w, _ = box
    band = out[:y, x : x + w]
    was = original[:y, x : x + w]
    painted = np.all(band == np.array(color, np.uint8), axis=2) & np.any(band != was, axis=2)
    rows = np.flatnonzero(painted.mean(axis=1) > 0.3)
    return int(rows.max() - rows.min() + 1) if rows.size else 0


def test_labels_and_lines_scale_with_the_image(astronaut_bgr):
    face = FaceResult([180, 80, 110, 130], "happy", {e: (0.9 if e == "happy" else 0.1 / 6) for e in EMOTION_RGB})
    small = draw_faces(astronaut_bgr, [face])
    big_image = cv2.resize(astronaut_bgr, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    big_face = FaceResult([v * 4 for v in face.box], face.label, face.emotions)
    big = draw_faces(big_image, [big_face])
    small_h = label_height(small, astronaut_bgr, face.box, EMOTION_BGR["happy"])
    big_h = label_height(big, big_image, big_face.box, EMOTION_BGR["happy"])
    assert small_h >= 16, "labels stay legible on small images"
    assert 2.2 < big_h / small_h < 4.5
    assert line_width((512, 512)) == 1 and line_width((2048, 2048)) == 4 and line_width((4000, 6000)) == 12


def test_palette_is_distinct_with_readable_text():
    colours = list(EMOTION_RGB.values())
    assert len(set(colours)) == 7
    for rgb in colours:
        bgr = rgb[::-1]
        ink = text_color(bgr)
        lum = [
            (0.2126 * (c[0] / 255) ** 2.2 + 0.7152 * (c[1] / 255) ** 2.2 + 0.0722 * (c[2] / 255) ** 2.2)
            for c in (rgb, ink)
        ]
        contrast = (max(lum) + 0.05) / (min(lum) + 0.05)
        assert contrast >= 4.5, f"label text on {rgb} has contrast {contrast:.1f}"


def test_thirty_real_faces_are_found_boxed_and_numbered_in_reading_order(group, group_faces):
    image, placed = group
    assert len(group_faces) == 30
    centres = [(x + w / 2, y + h / 2) for x, y, w, h in (f.box for f in group_faces)]
    for px, py, pw, ph in placed:  # every pasted head holds exactly one detected face
        assert sum(px < cx < px + pw and py < cy < py + ph for cx, cy in centres) == 1
    out = draw_faces(image, group_faces, numbered=True)
    for face in group_faces:
        assert edge_share(out, face.box, EMOTION_BGR[face.label]) > 0.9
        assert edge_share(image, face.box, EMOTION_BGR[face.label]) < 0.05
    # Reading order: rows top to bottom, left to right within a row.
    tops = [f.box[1] + f.box[3] / 2 for f in group_faces]
    assert all(b >= a - 0.5 * group_faces[0].box[3] for a, b in zip(tops, tops[1:], strict=False))
    assert reading_order(list(reversed(group_faces))) == group_faces


def test_a_group_panel_is_a_summary_beside_the_photo_then_a_grid_of_charts(group, group_faces, astronaut_bgr, analyzer):
    image, _ = group  # 1920 x 1080, 30 faces
    engagement = load_config(None).engagement
    panel = render_panel(image, group_faces, engagement=engagement)
    height, width = panel.shape[:2]
    # Not a strip (it was 1920 px of photo and 8 columns of charts, 4,416 x 1,080): the photo at 1600 px wide with
    # the summary card beside it, and the charts in rows below, as wide as both.
    assert width == 12 + GROUP_WIDTH[1] + 12 + SUMMARY_W + 12
    assert 900 + 3 * 150 < height < 2 * width
    card = draw_summary(summarise_faces(group_faces, engagement), SUMMARY_W, 900)
    assert np.array_equal(panel[12 : 12 + card.shape[0], width - 12 - SUMMARY_W : width - 12], card)
    top = 12 + max(900, card.shape[0]) + 12
    # Each chart's title block is filled with its face's emotion colour: 30 blocks, in rows of at least six.
    titles = np.all(panel[top:] == np.array(EMOTION_BGR["happy"], np.uint8), axis=2)
    count, _labels, stats, _centres = cv2.connectedComponentsWithStats(titles.astype(np.uint8))
    blocks = stats[1:][stats[1:, cv2.CC_STAT_HEIGHT] > 20]  # title blocks (bars are thinner)
    assert len(blocks) == sum(f.label == "happy" for f in group_faces) == 30
    rows = sorted({int(y) for y in blocks[:, cv2.CC_STAT_TOP]})
    per_row = [int(sum(blocks[:, cv2.CC_STAT_TOP] == y)) for y in rows]
    assert per_row[0] >= 6 and all(n == per_row[0] for n in per_row[:-1]) and per_row[-1] <= per_row[0], per_row
    small = render_panel(astronaut_bgr, classify_image(astronaut_bgr, analyzer))
    assert small.shape[0] == 600 and small.shape[1] > 600  # one face: its chart beside the photo, scaled up
    empty = render_panel(np.full((300, 400, 3), 128, np.uint8), [])
    assert empty.shape[0] == 600


def test_crowded_photos_are_labelled_with_numbers_alone(group, group_faces):
    image, _ = group
    assert not labels_collide(image.shape, group_faces)  # 30 faces on 1920 px: full labels fit
    small = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    faces = [FaceResult([round(v / 3) for v in f.box], f.label, f.emotions) for f in group_faces]
    assert labels_collide(small.shape, faces)
    full = draw_faces(small, faces, numbered=True)
    short = draw_faces(small, faces, numbered=True, numbers_only=True)
    colour = np.array(EMOTION_BGR["happy"], np.uint8)
    assert np.all(short == colour, axis=2).sum() < 0.5 * np.all(full == colour, axis=2).sum()


def test_photo_summary_counts_like_a_minute_of_a_lecture(group_faces):
    config = load_config(None)
    summary = summarise_faces(group_faces, config.engagement)
    aggregator = MinuteAggregator.from_config(config)
    probabilities = np.array([[f.emotions[e] for e in EMOTIONS] for f in group_faces], np.float32)
    aggregator.add(FrameFaces(0.0, [Box(*f.box) for f in group_faces], probabilities))
    minute = aggregator.finish(1.0)
    assert summary.faces == 30 and sum(summary.counts.values()) == 30
    assert summary.engagement == pytest.approx(minute.engagement, abs=1e-4)
    assert summary.high == pytest.approx(minute.engagement_high) and summary.low == pytest.approx(minute.engagement_low)
    for e in EMOTIONS:
        assert summary.counts[e] / 30 == pytest.approx(minute.emotion_top_share[e])
    assert summarise_faces(group_faces).engagement is None  # without the settings, counts only


def test_limits_are_checked_in_memory_before_decoding(monkeypatch):
    from PIL import Image

    assert str(pytest.raises(ValueError, decode_image, b"just some text").value) == NOT_AN_IMAGE
    too_big = b"\xff\xd8\xff" + bytes(MAX_IMAGE_BYTES)
    assert "over the 15 MB limit" in str(pytest.raises(ValueError, decode_image, too_big).value)
    # A small PNG that claims 48 megapixels: refused from its header, without decoding its pixels.
    buffer = io.BytesIO()
    Image.new("L", (8000, 6000)).save(buffer, format="PNG")
    bomb = buffer.getvalue()
    assert len(bomb) < 1_000_000

    def no_decode(*args, **kwargs):
        raise AssertionError("the pixels were decoded")

    import engage.vision.photos as photos

    monkeypatch.setattr(photos, "decode_bgr", no_decode)  # decoding is Pillow's now (quiet on broken files)
    message = str(pytest.raises(ValueError, decode_image, bomb).value)
    assert "8000x6000" in message and "over the 40 megapixel limit" in message
    monkeypatch.undo()
    ok, webp = cv2.imencode(".webp", np.full((60, 80, 3), 200, np.uint8))
    assert decode_image(webp.tobytes()).shape == (60, 80, 3)


def test_output_names_never_collide(tmp_path):
    taken: set[Path] = set()
    first = annotation_paths(tmp_path, Path("a/class.jpg"), taken)
    second = annotation_paths(tmp_path, Path("b/class.png"), taken)
    assert first == (tmp_path / "class.annotated.png", tmp_path / "class.panel.png")
    assert second == (tmp_path / "class-2.annotated.png", tmp_path / "class-2.panel.png")


def engage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=180,
    )


def test_cli_annotate_writes_boxed_copies_and_keeps_json(tmp_path, astronaut_bgr, group):
    (tmp_path / "b").mkdir()
    astronaut = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(astronaut), astronaut_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    group_path = tmp_path / "class.png"
    cv2.imwrite(str(group_path), group[0])
    twin = tmp_path / "b" / "class.webp"  # same stem as class.png
    cv2.imwrite(str(twin), astronaut_bgr)
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((200, 300, 3), 128, np.uint8))
    out_dir = tmp_path / "out" / "annotated"

    result = engage(
        "classify", str(astronaut), str(group_path), str(twin), str(wall), "--annotate", str(out_dir), "--json"
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(r) for r in records] == [{"path", "faces"}] * 4, "--json output is unchanged by --annotate"
    assert [len(r["faces"]) for r in records] == [1, 30, 1, 0]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        f"{stem}.{kind}.png" for stem in ("astronaut", "class", "class-2", "wall") for kind in ("annotated", "panel")
    )
    assert f"wrote {out_dir / 'class.annotated.png'}" in result.stderr
    assert "wall.png: no face found: try a clearer, frontal photo" in result.stderr

    for record, source in zip(records, (astronaut, group_path, twin, wall), strict=True):
        original = cv2.imread(str(source))
        stem = "class-2" if source == twin else source.stem
        annotated = cv2.imread(str(out_dir / f"{stem}.annotated.png"))
        panel = cv2.imread(str(out_dir / f"{stem}.panel.png"))
        assert annotated.shape == original.shape, "the annotated copy keeps the photo's size"
        assert panel.shape[1] > annotated.shape[1] * min(1, 600 / annotated.shape[0])
        for face in record["faces"]:
            colour = EMOTION_BGR[face["label"]]
            assert edge_share(annotated, face["box"], colour) > 0.9
            assert edge_share(original, face["box"], colour) < 0.05
    astronaut_face = records[0]["faces"][0]
    x, y, w, h = astronaut_face["box"]
    assert astronaut_face["label"] == "happy" and 140 < x + w / 2 < 320 and 30 < y + h / 2 < 230


def test_cli_annotate_bad_folder_and_bad_files_are_one_line_errors(tmp_path, astronaut_bgr):
    not_a_folder = tmp_path / "taken.txt"
    not_a_folder.write_text("x")
    photo = tmp_path / "a.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    result = engage("classify", str(photo), "--annotate", str(not_a_folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: --annotate needs a folder, but {not_a_folder} is a file"

    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a text file renamed .jpg")
    out_dir = tmp_path / "out"
    result = engage("classify", str(fake), str(photo), "--annotate", str(out_dir))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{fake}: {NOT_AN_IMAGE}" in result.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.annotated.png", "a.panel.png"]


CLASS57 = shared_data_dir() / "face_detect" / "images" / "class57.jpg"


@pytest.mark.skipif(not CLASS57.is_file(), reason=f"class57.jpg not found at {CLASS57} (set ENGAGE_DATA)")
def test_cli_panel_of_the_57_person_class_photo_is_a_page_not_a_strip(tmp_path):
    result = engage("classify", str(CLASS57), "--annotate", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(record["faces"]) == 57
    panel = cv2.imread(str(tmp_path / "class57.panel.png"))
    height, width = panel.shape[:2]
    # It was 5,972 x 1,024: the photo and 19 columns of charts. Now the photo (1,280 px) and the summary side by
    # side, then the 57 charts in rows below as wide as both.
    assert width == 12 + 1280 + 12 + SUMMARY_W + 12 and 1024 + 8 * 150 < height < 2 * width
    assert cv2.imread(str(tmp_path / "class57.annotated.png")).shape == cv2.imread(str(CLASS57)).shape


def test_a_head_direction_arrow_points_where_the_head_turns():
    from engage.types import HeadPose
    from engage.vision.annotate import head_direction_tip

    emotions = {e: 1 / 7 for e in EMOTIONS}
    face = FaceResult([100, 100, 80, 80], "neutral", emotions, HeadPose(40.0, -30.0, 0.0), "down")
    tip_x, tip_y = head_direction_tip(face)
    assert tip_x < 140 and tip_y > 140  # the person's own right is the image's left; looking down is down
    canvas = np.full((300, 300, 3), 255, np.uint8)
    plain = draw_faces(canvas, [FaceResult(face.box, face.label, emotions)])
    with_arrow = draw_faces(canvas, [face])
    changed = np.any(with_arrow != plain, axis=2)
    assert changed[tip_y - 3 : tip_y + 4, tip_x - 3 : tip_x + 4].any() and not changed[:, 200:].any()
