"""Following faces between full sweeps: it finds what a full sweep of every sample finds, in a synthetic lecture
where people enter, leave and turn away; sweeps when the scene changes or a face is lost; memory stays flat."""

from __future__ import annotations

import tracemalloc
from collections import defaultdict

import numpy as np
import pytest
from faces import group_photo, iou
from lecture import lecture
from skimage import data as skdata

from engage.config import load_config
from engage.types import Box
from engage.vision.follow import FollowingDetector, FollowSettings, same_face, session_detector, thumbnail
from engage.vision.sweep import SweepDetector, sweep_detector


def detectors(**overrides: object) -> tuple[SweepDetector, FollowingDetector]:
    """A full sweep for reference and a following detector, each with its own models, from the defaults."""
    config = load_config(environ={}, overrides={"detector": overrides} if overrides else None)
    reference = sweep_detector(config.detector)
    follower = session_detector(sweep_detector(config.detector), config.detector)
    assert isinstance(reference, SweepDetector) and isinstance(follower, FollowingDetector)
    return reference, follower


def found(box: tuple[int, int, int, int], boxes: list[Box]) -> bool:
    return any(iou(Box(*box), b) > 0.25 for b in boxes)


@pytest.mark.parametrize(
    ("size", "face_scale", "fps"),
    [((640, 360), 1.0, 1.0), ((640, 352), 0.55, 1.0), ((960, 540), 1.0, 2.0)],
    ids=["lecture", "small-faces", "two-per-second"],
)
def test_following_finds_what_sweeping_every_sample_finds(size: tuple[int, int], face_scale: float, fps: float):
    reference, follower = detectors()
    swept = followed = 0
    missed_run: dict[int, int] = defaultdict(int)
    longest = 0
    samples = 0
    for _, image, people in lecture(seconds=45, fps=fps, size=size, people=12, face_scale=face_scale, seed=3):
        full, mine = reference.detect(image), follower.detect(image)
        samples += 1
        swept += len(full)
        followed += len(mine)
        for person in people:
            if found(person.box, full) and not found(person.box, mine):
                missed_run[person.person] += 1
                longest = max(longest, missed_run[person.person])
            else:
                missed_run[person.person] = 0
    assert swept > 8 * samples  # the lecture has faces to find (12 people, some away)
    assert followed >= 0.98 * swept
    assert longest <= 2  # a face the sweep sees is never missed for more than 2 samples in a row
    assert follower.counts["follow"] >= 0.3 * samples  # and many samples were not swept (this lecture is busy)


def test_a_new_scene_or_frame_size_is_swept() -> None:
    reference, _ = detectors()
    follower = FollowingDetector(reference, FollowSettings(sweep_min=4, sweep_max=8))  # no sweep falls due here
    astronaut = np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])
    photo, _ = group_photo(faces=6, size=(512, 512))
    for image in (astronaut, astronaut, photo, photo, photo[:400]):
        follower.detect(image)
    assert follower.counts["sweep:new"] == 2  # the first sample, and the cut-down frame
    assert follower.counts["sweep:scene"] == 1  # astronaut -> class photo
    assert follower.counts["follow"] == 2


def test_a_lost_face_brings_a_sweep_on_the_next_sample() -> None:
    reference, _ = detectors()
    follower = FollowingDetector(reference, FollowSettings(sweep_min=4, sweep_max=8))
    astronaut = np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])
    covered = astronaut.copy()
    covered[60:175, 175:270] = 40  # the face hidden, the rest of the picture as it was
    assert len(follower.detect(astronaut)) == 1
    assert len(follower.detect(astronaut)) == 1  # followed
    assert follower.detect(covered) == []  # lost in its region
    follower.detect(covered)
    assert follower.counts["sweep:lost"] == 1
    assert follower.counts["follow"] == 2


def test_the_sweep_interval_grows_while_nothing_changes_and_is_capped() -> None:
    reference, _ = detectors()
    follower = FollowingDetector(reference, FollowSettings(sweep_min=2, sweep_max=8))
    astronaut = np.ascontiguousarray(skdata.astronaut()[:, :, ::-1])
    for _ in range(40):
        assert len(follower.detect(astronaut)) == 1
    assert follower.every == 8
    assert follower.counts["sweep"] == 7  # samples 0 (new), 2, 6, 14, then every 8th: 22, 30, 38


def test_memory_stays_flat() -> None:
    _, follower = detectors()
    frames = lecture(seconds=100, fps=1, size=(480, 270), people=12, seed=5)
    tracemalloc.start()
    try:
        for k, (_, image, _) in enumerate(frames):
            follower.detect(image)
            if k == 30:
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert late - early < 64 * 1024
    assert follower._thumb.nbytes <= 160 * 90  # one thumbnail is all it keeps of the pictures
    assert len(follower.known) <= 12


def test_thumbnail_is_small_and_grey() -> None:
    assert thumbnail(np.zeros((1080, 1920, 3), np.uint8)).shape == (90, 160)
    assert thumbnail(np.zeros((100, 120), np.uint8)).shape == (100, 120)


def test_same_face_allows_movement_within_a_face() -> None:
    face = Box(100, 100, 40, 50)
    assert same_face(face, Box(130, 120, 44, 52))
    assert not same_face(face, Box(160, 100, 40, 50))  # moved further than its size
    assert not same_face(face, Box(100, 100, 15, 18))  # a much smaller face


def test_session_detector_follows_only_a_yunet_sweep_when_asked() -> None:
    config = load_config(environ={})
    sweep = sweep_detector(config.detector)
    assert isinstance(session_detector(sweep, config.detector), FollowingDetector)
    off = config.detector.model_copy(update={"follow": False})
    assert session_detector(sweep, off) is sweep
    haar = config.detector.model_copy(update={"name": "haar"})
    plain = sweep_detector(haar)
    assert not isinstance(plain, SweepDetector)
    assert session_detector(plain, haar) is plain


def test_follow_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="sweep_min"):
        FollowSettings(sweep_min=5, sweep_max=4)


def test_each_session_follows_with_its_own_memory_and_photos_are_swept() -> None:
    from engage.vision.analyzer import FrameAnalyzer

    config = load_config(environ={})
    analyzer = FrameAnalyzer(config)
    assert isinstance(analyzer.detector, SweepDetector)  # a still photo: a full sweep
    first, second = analyzer.for_session().detector, analyzer.for_session().detector
    assert isinstance(first, FollowingDetector) and isinstance(second, FollowingDetector)
    assert first is not second and first.sweep is analyzer.detector  # own memory, shared models
    off = config.model_copy(update={"detector": config.detector.model_copy(update={"follow": False})})
    plain = FrameAnalyzer(off, classifier=analyzer.classifier)
    assert plain.for_session().detector is plain.detector
