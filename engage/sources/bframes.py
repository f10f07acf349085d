"""Whether a video can be sampled without decoding any B-frame, exactly.

When samples are far apart, engage decodes only the frames it needs to reach them. Frames no other frame refers
to are always safe to leave out (engage.sources.media). Leaving out every B-frame (decoding I- and P-frames only)
about halves decoding again for x264's output, whose P-frames never refer to a B-frame; but H.264 allows them to,
some encoders do (both shared real clips), and FFmpeg then returns damaged frames without flagging them. So each
file is checked first: its first SKIP_BIDIR_CHECK_FRAMES frames are decoded with and without B-frames, and every
frame decoded both ways must be identical.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from fractions import Fraction
from itertools import pairwise

import av
import numpy as np

SKIP_BIDIR_CHECK_FRAMES = 300
# The check costs about as much as decoding its frames twice: only files this long gain enough to pay for it.
SKIP_BIDIR_MIN_FRAMES = 3000
# Pixel formats whose first plane is the picture's 8-bit luma, one byte a pixel (most video).
_LUMA8_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"})


def b_frames_skippable(
    open_container: Callable[[], av.container.InputContainer],
    stream_index: int,
    fps: float | None,
    time_base: Fraction,
    duration: float | None,
    max_gap_frames: int,
) -> bool:
    """Whether the video stream `stream_index` of what `open_container` opens can be decoded without its
    B-frames: at least SKIP_BIDIR_MIN_FRAMES frames long, B-frames present, what remains identical to a full
    decode and never more than `max_gap_frames` frames apart (where all but the I-frames are B-frames, as in
    some HEVC, samples would otherwise land seconds late)."""
    if not fps or (duration or 0.0) * fps < SKIP_BIDIR_MIN_FRAMES:
        return False
    try:
        every = _digests(open_container, stream_index, "DEFAULT", last_pts=None)
        last_pts = max((pts for pts in every if pts is not None), default=0)
        without_b = _digests(open_container, stream_index, "BIDIR", last_pts=last_pts)
    except (av.FFmpegError, ValueError, OSError):
        return False
    if not 0 < len(without_b) < len(every) or None in without_b:
        return False
    frame_ticks = 1 / (Fraction(fps).limit_denominator(1001) * time_base)
    times = sorted(pts for pts in without_b if pts is not None)
    if any(later - earlier > max_gap_frames * frame_ticks for earlier, later in pairwise(times)):
        return False
    return all(every.get(pts) == digest for pts, digest in without_b.items())


def _digests(
    open_container: Callable[[], av.container.InputContainer], stream_index: int, skip: str, last_pts: int | None
) -> dict[int | None, bytes]:
    """A digest of each of the first SKIP_BIDIR_CHECK_FRAMES decoded frames (up to `last_pts`), by pts: digests,
    not pictures, so memory stays small at any resolution."""
    container = open_container()
    try:
        stream = container.streams[stream_index]
        stream.thread_type = "SLICE"
        stream.codec_context.skip_frame = skip
        pictures: dict[int | None, bytes] = {}
        for packet in container.demux(stream):
            if len(pictures) >= SKIP_BIDIR_CHECK_FRAMES or (last_pts is not None and (packet.pts or 0) > last_pts):
                break
            for frame in packet.decode():
                pictures[frame.pts] = _luma_digest(frame)
        return pictures
    finally:
        container.close()


def _luma_digest(frame: av.VideoFrame) -> bytes:
    """A digest of every 4th pixel of every 4th row of a frame's luma: a frame decoded from a wrong reference
    differs in whole 16x16 blocks, so the sample sees it, at a sixteenth of the cost of hashing it all."""
    if frame.format.name in _LUMA8_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[: frame.height, : frame.width]
    else:
        rows = frame.to_ndarray(format="gray")
    return hashlib.blake2b(np.ascontiguousarray(rows[::4, ::4]).tobytes(), digest_size=16).digest()
