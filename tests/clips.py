"""Real encoded test clips: faces from `skimage.data.astronaut()` on a plain background, written with PyAV.

Used by the tests and the benchmarks. Nothing here is stored in the repo; clips are made in temp folders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

# Codec when none is given: H.264 everywhere except WebM, which only takes VP8/VP9/AV1.
_DEFAULT_CODEC = {".webm": "libvpx"}
_FACE_CROP = (slice(0, 240), slice(120, 330))  # rows, cols of the astronaut's head in the 512x512 image
_PATTERN_FRAMES = 60  # faces move on a loop of this many frames; the loop is rendered once and reused


@lru_cache(maxsize=1)
def astronaut_face() -> np.ndarray:
    """The astronaut's head and shoulders as a BGR uint8 image (240 x 210)."""
    from skimage import data

    rgb = data.astronaut()[_FACE_CROP]
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _render(size: tuple[int, int], faces: int, phase: float, noise: np.ndarray | None) -> np.ndarray:
    """One BGR frame: `faces` astronaut heads in a grid on a gray background, nudged by `phase` (0..1)."""
    width, height = size
    image = np.full((height, width, 3), 96, np.uint8)
    if faces > 0:
        cols = math.ceil(math.sqrt(faces))
        rows = math.ceil(faces / cols)
        cell_w, cell_h = width // cols, height // rows
        face = astronaut_face()
        scale = min(0.7 * cell_w / face.shape[1], 0.7 * cell_h / face.shape[0])
        fw, fh = max(1, int(face.shape[1] * scale)), max(1, int(face.shape[0] * scale))
        patch = cv2.resize(face, (fw, fh), interpolation=cv2.INTER_AREA)
        # A slight sway so consecutive frames differ, like a person sitting in class.
        dx = int(round(0.08 * cell_w * math.sin(2 * math.pi * phase)))
        dy = int(round(0.04 * cell_h * math.cos(2 * math.pi * phase)))
        for i in range(faces):
            r, c = divmod(i, cols)
            x = c * cell_w + (cell_w - fw) // 2 + dx
            y = r * cell_h + (cell_h - fh) // 2 + dy
            x0, y0 = max(0, x), max(0, y)
            x1, y1 = min(width, x + fw), min(height, y + fh)
            if x1 > x0 and y1 > y0:
                image[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]
    if noise is not None:
        image = cv2.add(image, noise)
    return image


def make_clip(
    path: str | Path,
    seconds: float,
    fps: float = 30,
    size: tuple[int, int] = (1280, 720),
    faces: int = 1,
    codec: str | None = None,
    *,
    timestamps: Sequence[float] | None = None,
    preset: str = "ultrafast",
    noise: int = 0,
    faststart: bool = False,
    crf: int = 28,
    rotation: int = 0,
    x264: dict[str, str] | None = None,
) -> Path:
    """Write a real encoded clip and return its path; the container comes from the suffix.

    `size` is (width, height). `codec` defaults to libx264 (libvpx for .webm). `timestamps` gives explicit
    frame times in seconds for a variable-frame-rate clip (then `seconds` and `fps` are ignored).
    `preset` is the x264 preset: "ultrafast" for fast tests, "veryfast" or slower for decode benchmarks
    (CABAC, deblocking and B-frames make decoding cost like real recordings). `noise` > 0 adds sensor-like
    grain of that amplitude, different in every frame, so the bitrate is less unrealistically low.
    `faststart` puts the MP4 index first, so a truncated copy still opens. `rotation` (degrees
    counter-clockwise) is stored as display-rotation metadata, as phones do for portrait video; the pixels
    stay as rendered. `x264` adds libx264 options (e.g. {"x264-params": "bframes=8:b-adapt=0"}).
    """
    path = Path(path)
    codec = codec or _DEFAULT_CODEC.get(path.suffix.lower(), "libx264")
    rate = Fraction(fps).limit_denominator(1001)
    if timestamps is None:
        times = [i / float(rate) for i in range(int(round(seconds * float(rate))))]
    else:
        times = [float(t) for t in timestamps]
    # Constant rate: ticks of 1/rate (AVI and MPEG-4 part 2 need that). Explicit times: a 90 kHz clock.
    time_base = Fraction(1, 90000) if timestamps is not None else 1 / rate

    rng = np.random.default_rng(0)
    container_options = {"movflags": "+faststart"} if faststart else {}

    container = av.open(str(path), mode="w", options=container_options)
    try:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        if codec == "libx264":
            stream.options = {"preset": preset, "crf": str(crf), **(x264 or {})}
        elif codec in ("libvpx", "libvpx-vp9"):
            stream.options = {"deadline": "realtime", "cpu-used": "8", "b": "1M", "lag-in-frames": "0"}
        else:
            stream.bit_rate = 2_000_000

        # The sway loop is rendered (and converted to YUV) once: encoding then dominates, which keeps it fast.
        loop: list[av.VideoFrame] = []
        for k in range(_PATTERN_FRAMES):
            grain = rng.integers(0, noise + 1, (size[1], size[0], 3), dtype=np.uint8) if noise > 0 else None
            bgr = _render(size, faces, k / _PATTERN_FRAMES, grain)
            loop.append(av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p"))
        for i, t in enumerate(times):
            frame = loop[i % _PATTERN_FRAMES]
            frame.pts = int(round(t / time_base))
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return path


def make_empty_clip(path: str | Path, size: tuple[int, int] = (320, 240), audio_seconds: float = 0) -> Path:
    """Write a container with a video stream but zero video frames; optionally with some seconds of audio."""
    path = Path(path)
    container = av.open(str(path), mode="w")
    try:
        stream = container.add_stream(_DEFAULT_CODEC.get(path.suffix.lower(), "libx264"), rate=30)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=16000) if audio_seconds else None
        container.start_encoding()  # writes the header even though no video packet follows
        if audio is not None:
            samples = int(audio_seconds * 16000)
            for start in range(0, samples, 1024):
                silence = np.zeros((1, min(1024, samples - start)), np.float32)
                frame = av.AudioFrame.from_ndarray(silence, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, start
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    finally:
        container.close()
    return path


def truncate(path: str | Path, fraction: float, dest: str | Path | None = None) -> Path:
    """Copy the first `fraction` of the file's bytes to `dest` (default: NAME.truncated.SUFFIX beside it)."""
    path = Path(path)
    dest = Path(dest) if dest is not None else path.with_name(f"{path.stem}.truncated{path.suffix}")
    data = path.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest
