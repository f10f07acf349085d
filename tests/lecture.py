"""A synthetic lecture for the tracking tests and benchmarks, with the truth of who is where.

People are the astronaut's real head (tests/clips.py), mirrored for every other seat and shaded a little, in
rows of seats (back rows smaller) on a textured wall. Some are seated from the start, some walk in from the left
and sit down, some get up and walk out to the right; every seated person sways and now and then turns away from
the camera (the face is covered by the back of a head) for a few seconds. Frames are made in memory.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from clips import astronaut_face

WALK_S = 3.0  # seconds to walk between the frame's edge and a seat
# The face in astronaut_face() (240 x 210), found by YuNet: x, y, w, h.
FACE_IN_PATCH = (58, 65, 90, 109)


@dataclass(frozen=True)
class Person:
    seat: tuple[float, float]  # top-left of the head patch when seated, px
    height: int  # head patch height, px
    enter: float | None  # seconds; None: seated from the start
    leave: float | None  # seconds; None: stays to the end
    away: tuple[tuple[float, float], ...]  # (start, end) seconds turned away from the camera
    mirrored: bool
    shade: float
    phase: float


@dataclass(frozen=True)
class Visible:
    """A person in the frame: where their face is (x, y, w, h) and whether it faces the camera."""

    person: int
    box: tuple[int, int, int, int]
    facing: bool


@lru_cache(maxsize=256)
def _patches(height: int, mirrored: bool, shade: float) -> tuple[np.ndarray, np.ndarray]:
    """The head patch at ``height`` px, facing and turned away (the face covered by the back of a head)."""
    face = astronaut_face()
    scale = height / face.shape[0]
    size = (max(1, round(face.shape[1] * scale)), height)
    facing = cv2.convertScaleAbs(face, alpha=shade)
    away = facing.copy()
    x, y, w, h = FACE_IN_PATCH
    rng = np.random.default_rng(height)
    hair = np.clip(rng.normal(38, 10, away.shape), 0, 255).astype(np.uint8)
    mask = np.zeros(away.shape[:2], np.uint8)
    cv2.ellipse(mask, (x + w // 2, y + h // 2 - 8), (w // 2 + 6, h // 2 + 12), 0, 0, 360, 255, -1)
    away[mask > 0] = hair[mask > 0]
    out = []
    for image in (facing, away):
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        out.append(small[:, ::-1] if mirrored else small)
    return out[0], out[1]


def lecture_people(
    size: tuple[int, int] = (1280, 720), people: int = 12, seconds: float = 90.0, face_scale: float = 1.0, seed: int = 0
) -> list[Person]:
    """Seats in three rows (back rows smaller); a sixth of the people walk in, a sixth walk out, each seated person
    turns away once or twice for 3-6 s. ``face_scale`` shrinks every head (0.25: back-row faces ~12 px in 720p)."""
    rng = np.random.default_rng(seed)
    width, height = size
    rows = 3
    cols = math.ceil(people / rows)
    cell_w = width / cols
    out = []
    for i in range(people):
        r, c = divmod(i, cols)
        patch_h = int(face_scale * height * (0.16 + 0.04 * r))  # row 0 at the back
        patch_w = patch_h * 210 / 240
        x = c * cell_w + (cell_w - patch_w) / 2 + rng.uniform(-0.1, 0.1) * cell_w
        y = height * (0.3 + 0.23 * r) - patch_h / 2 + rng.uniform(-0.02, 0.02) * height
        enter = leave = None
        if i % 6 == 1:
            enter = float(rng.uniform(0.15, 0.5) * seconds)
        elif i % 6 == 4:
            leave = float(rng.uniform(0.4, 0.8) * seconds)
        away = []
        for _ in range(int(rng.integers(1, 3))):
            start = float(rng.uniform(0.05, 0.9) * seconds)
            away.append((start, start + float(rng.uniform(3, 6))))
        out.append(Person((x, y), patch_h, enter, leave, tuple(away), i % 2 == 1, float(rng.uniform(0.85, 1.1)), c + r))
    return out


def _where(p: Person, t: float, width: int) -> tuple[float, float] | None:
    """Top-left of the person's patch at time t, or None when they are not in the room."""
    x, y = p.seat
    patch_w = p.height * 210 / 240
    if p.enter is not None and t < p.enter:
        return None
    if p.enter is not None and t < p.enter + WALK_S:  # walking in from the left
        return (-patch_w + (x + patch_w) * (t - p.enter) / WALK_S, y)
    if p.leave is not None and t >= p.leave + WALK_S:
        return None
    if p.leave is not None and t >= p.leave:  # walking out to the right
        return (x + (width - x) * (t - p.leave) / WALK_S, y)
    sway = (0.05 * patch_w * math.sin(2 * math.pi * t / 7 + p.phase), 0.03 * p.height * math.sin(t / 5 + p.phase))
    return (x + sway[0], y + sway[1])


def lecture_frame(
    people: list[Person], t: float, size: tuple[int, int], background: np.ndarray
) -> tuple[np.ndarray, list[Visible]]:
    """The frame at time ``t`` and every person in it."""
    width, height = size
    image = background.copy()
    seen = []
    for i in sorted(range(len(people)), key=lambda i: people[i].seat[1]):  # back rows first
        p = people[i]
        at = _where(p, t, width)
        if at is None:
            continue
        facing = not any(a <= t < b for a, b in p.away)
        patch = _patches(p.height, p.mirrored, p.shade)[0 if facing else 1]
        x, y = round(at[0]), round(at[1])
        ph, pw = patch.shape[:2]
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + pw), min(height, y + ph)
        if x1 <= x0 or y1 <= y0:
            continue
        image[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
        s = ph / 240
        fx, fy, fw, fh = (v * s for v in FACE_IN_PATCH)
        if p.mirrored:
            fx = pw - fx - fw
        seen.append(Visible(i, (round(x + fx), round(y + fy), round(fw), round(fh)), facing))
    return image, seen


def lecture(
    seconds: float = 90.0,
    fps: float = 1.0,
    size: tuple[int, int] = (1280, 720),
    people: int = 12,
    face_scale: float = 1.0,
    seed: int = 0,
) -> Iterator[tuple[float, np.ndarray, list[Visible]]]:
    """(time, BGR frame, people in it) for every sample of the lecture."""
    width, height = size
    rng = np.random.default_rng(seed + 1)
    texture = rng.normal(120, 16, (height // 8 + 1, width // 8 + 1, 3)).clip(0, 255).astype(np.uint8)
    background = cv2.resize(texture, (width, height), interpolation=cv2.INTER_CUBIC)
    background[: height // 6, width // 5 : 4 * width // 5] = (70, 90, 60)  # the board
    cast = lecture_people(size, people, seconds, face_scale, seed)
    for k in range(int(seconds * fps)):
        t = k / fps
        image, seen = lecture_frame(cast, t, size, background)
        yield t, image, seen
