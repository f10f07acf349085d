"""Real still photos for the photo tests and benchmarks: group photos built from the astronaut's real face.

Nothing here is stored in the repo; images are built in memory (tests write them to temp folders).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from clips import astronaut_face

from engage.types import Box


def group_photo(
    faces: int = 30, size: tuple[int, int] = (1920, 1080), seed: int = 0
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A BGR "class photo" of `faces` astronaut heads and the rectangle (x, y, w, h) where each head was pasted.

    Heads sit in a jittered grid of rows, each row a little smaller than the one below it (back rows are
    farther away), every other head mirrored, on a textured background, so no two heads are pixel-identical.
    `size` is (width, height).
    """
    rng = np.random.default_rng(seed)
    width, height = size
    background = rng.normal(110, 18, (height // 8 + 1, width // 8 + 1, 3)).clip(0, 255).astype(np.uint8)
    image = cv2.resize(background, (width, height), interpolation=cv2.INTER_CUBIC)
    face = astronaut_face()
    cols = math.ceil(math.sqrt(faces * width / height))
    rows = math.ceil(faces / cols)
    cell_w, cell_h = width / cols, height / rows
    placed: list[tuple[int, int, int, int]] = []
    for i in range(faces):
        r, c = divmod(i, cols)
        # Back rows (top) 80% of the front row's size; a little random variation per person.
        scale = min(0.8 * cell_w / face.shape[1], 0.85 * cell_h / face.shape[0])
        scale *= (0.8 + 0.2 * r / max(1, rows - 1)) * rng.uniform(0.92, 1.0)
        fw, fh = int(face.shape[1] * scale), int(face.shape[0] * scale)
        patch = cv2.resize(face, (fw, fh), interpolation=cv2.INTER_AREA)
        if i % 2:
            patch = patch[:, ::-1]
        x = int(c * cell_w + (cell_w - fw) / 2 + rng.uniform(-0.08, 0.08) * (cell_w - fw))
        y = int(r * cell_h + (cell_h - fh) / 2 + rng.uniform(-0.3, 0.3) * (cell_h - fh))
        image[y : y + fh, x : x + fw] = patch
        placed.append((x, y, fw, fh))
    return image, placed


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.w * a.h + b.w * b.h - inter)
