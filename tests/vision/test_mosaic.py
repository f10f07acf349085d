"""Regions and mosaics: coordinates map back exactly (boxes and landmarks), and real faces are found again."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data as skdata

from engage.types import Box
from engage.vision.detection import YuNetDetector
from engage.vision.mosaic import (
    GAP,
    NO_DOWNSCALE,
    Placement,
    Region,
    build_mosaic,
    clip_region,
    detect_regions,
    detect_scaled,
    merge,
    overlap,
    region_around,
    to_frame,
)

FACE = Box(175, 60, 95, 115)  # the astronaut's face in skimage.data.astronaut() (512x512)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def raw() -> YuNetDetector:
    return YuNetDetector(min_face=0, score_threshold=0.5, max_side=NO_DOWNSCALE)


def to_mosaic(box: Box, spot: Placement) -> Box:
    """The inverse of to_frame for one box: frame coordinates to the tile's (floats kept in landmarks)."""
    r = spot.region
    sx, sy = spot.w / r.w, spot.h / r.h
    marks = None
    if box.landmarks is not None:
        marks = tuple(
            (v - r.x) * sx + spot.x if i % 2 == 0 else (v - r.y) * sy + spot.y for i, v in enumerate(box.landmarks)
        )
    x0, y0 = (box.x - r.x) * sx + spot.x, (box.y - r.y) * sy + spot.y
    return Box(round(x0), round(y0), round(box.w * sx), round(box.h * sy), box.score, marks)


def test_region_around_is_a_square_inside_the_frame_scaled_to_the_face() -> None:
    r = region_around(Box(10, 20, 30, 40), (480, 640, 3), pad=2.0, face_px=40, max_upscale=4.0)
    assert (r.w, r.h) == (80, 80) and r.x == 0 and r.y == 0  # shifted inside at the top-left corner
    assert r.scale == pytest.approx(1.0)
    small = region_around(Box(600, 460, 8, 10), (480, 640, 3), pad=2.0, face_px=40, max_upscale=3.0)
    assert small.x + small.w <= 640 and small.y + small.h <= 480
    assert small.scale == 3.0  # capped
    big = region_around(Box(0, 0, 400, 470), (480, 640, 3), pad=2.0, face_px=40, max_upscale=4.0)
    assert big.w == big.h == 480  # cut to the frame
    assert big.scale == pytest.approx(40 / 470)


def test_clip_region_keeps_the_part_inside() -> None:
    assert clip_region(-10.5, -3, 50.2, 40, (30, 60), 2.0) == Region(0, 0, 51, 30, 2.0)
    assert clip_region(100, 0, 120, 10, (30, 60), 1.0) is None


def test_mosaic_holds_each_tile_rescaled_and_apart() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    regions = [Region(0, 0, 100, 100, 0.5), Region(150, 100, 60, 80, 2.0), Region(300, 200, 100, 100, 1.0)]
    mosaic, spots = build_mosaic(image, regions)
    assert [(p.w, p.h) for p in spots] == [(50, 50), (120, 160), (100, 100)]
    for p in spots:  # every tile in the mosaic, none overlapping another
        assert 0 < p.x and 0 < p.y and p.x + p.w < mosaic.shape[1] and p.y + p.h < mosaic.shape[0]
        others = [q for q in spots if q is not p]
        assert all(p.x + p.w <= q.x or q.x + q.w <= p.x or p.y + p.h <= q.y or q.y + q.h <= p.y for q in others)
    third = spots[2]
    assert np.array_equal(mosaic[third.y : third.y + 100, third.x : third.x + 100], image[200:300, 300:400])


def test_gray_frames_make_bgr_mosaics() -> None:
    mosaic, _ = build_mosaic(np.zeros((50, 60), np.uint8), [Region(0, 0, 20, 20, 2.0)])
    assert mosaic.ndim == 3 and mosaic.shape[2] == 3


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 500), st.integers(0, 300), st.integers(20, 200), st.floats(0.2, 4.0), st.floats(0.2, 0.6)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_boxes_and_landmarks_round_trip(specs: list[tuple[int, int, int, float, float]]) -> None:
    """A face placed in a region's tile maps back to where it is in the frame: boxes within one tile pixel (in
    frame px, 1/scale), landmarks exactly up to float error."""
    shape = (480, 720, 3)
    regions, faces = [], []
    for x, y, side, scale, part in specs:
        region = clip_region(x, y, x + side, y + side, shape, scale)
        if region is None:
            continue
        w = max(4, int(region.w * part))
        h = max(4, int(region.h * part))
        fx, fy = region.x + (region.w - w) // 2, region.y + (region.h - h) // 2
        marks = (
            fx + 0.3 * w,
            fy + 0.4 * h,
            fx + 0.7 * w,
            fy + 0.4 * h,
            fx + 0.5 * w,
            fy + 0.6 * h,
            1.0,
            2.0,
            -3.5,
            9.0,
        )
        regions.append(region)
        faces.append(Box(fx, fy, w, h, 0.9, marks))
    if not regions:
        return
    _, spots = build_mosaic(np.zeros(shape, np.uint8), regions)
    found = [to_mosaic(face, spot) for face, spot in zip(faces, spots, strict=True)]
    back = to_frame(found, spots, shape, min_face=0)
    assert len(back) == len(faces)
    for face, got, spot in zip(faces, back, spots, strict=True):
        tolerance = 1.0 / min(spot.w / spot.region.w, spot.h / spot.region.h) + 1
        assert abs(got.x - face.x) <= tolerance and abs(got.y - face.y) <= tolerance
        assert abs(got.w - face.w) <= 2 * tolerance and abs(got.h - face.h) <= 2 * tolerance
        assert got.landmarks == pytest.approx(face.landmarks, abs=1e-6)


def test_boxes_centred_in_a_gap_and_faces_under_min_face_are_dropped() -> None:
    regions = [Region(0, 0, 100, 100, 1.0), Region(200, 0, 100, 100, 0.5)]
    _, (first, second) = build_mosaic(np.zeros((200, 400, 3), np.uint8), regions)
    assert second.y >= first.y + first.h + GAP  # the second tile went to a new row
    in_gap = Box(first.x + 10, first.y + first.h + GAP // 2 - 5, 10, 10, 0.9)  # centred in the gap between rows
    assert to_frame([in_gap], [first, second], (200, 400), min_face=0) == []
    tiny = Box(second.x + 10, second.y + 10, 6, 6, 0.9)  # 12 frame px tall at scale 0.5
    assert to_frame([tiny], [first, second], (200, 400), min_face=13) == []
    assert to_frame([tiny], [first, second], (200, 400), min_face=12)[0].h == 12


def test_merge_keeps_the_best_of_overlapping_boxes() -> None:
    a, b, c = Box(0, 0, 40, 40, 0.9), Box(4, 4, 30, 30, 0.8), Box(100, 0, 40, 40, 0.7)
    assert overlap(a, b) == 1.0
    assert merge([b, c, a]) == [a, c]


@pytest.mark.parametrize("scale", [0.4, 1.0, 2.5])
def test_a_real_face_is_found_again_in_its_region(astronaut: np.ndarray, raw: YuNetDetector, scale: float) -> None:
    full = raw.detect(astronaut)
    assert len(full) == 1
    region = region_around(full[0], astronaut.shape, pad=2.0, face_px=scale * max(full[0].w, full[0].h), max_upscale=4)
    # Two regions: the face, and an empty corner, so the face's tile is not the first in the mosaic.
    found = detect_regions(raw, astronaut, [Region(400, 400, 100, 100, scale), region], min_face=0)
    assert len(found) == 1
    a, b = full[0], found[0]
    assert abs(a.x - b.x) <= 6 and abs(a.y - b.y) <= 6 and abs(a.w - b.w) <= 10 and abs(a.h - b.h) <= 10
    # Within YuNet's own landmark noise (~0.1 eye distance) plus a tile pixel.
    eyes = abs(a.landmarks[2] - a.landmarks[0])
    assert np.allclose(a.landmarks, b.landmarks, atol=0.1 * eyes + 1 / scale)


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_a_rescaled_frame_maps_back(astronaut: np.ndarray, raw: YuNetDetector, factor: float) -> None:
    (a,) = raw.detect(astronaut)
    (b,) = detect_scaled(raw, astronaut, factor, min_face=0)
    assert abs(a.x - b.x) <= 6 and abs(a.y - b.y) <= 6 and abs(a.h - b.h) <= 10
    eyes = abs(a.landmarks[2] - a.landmarks[0])
    assert np.allclose(a.landmarks, b.landmarks, atol=0.12 * eyes + 1 / factor)
