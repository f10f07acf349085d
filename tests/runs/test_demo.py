"""`engage demo`'s closing lines, over the real demo clip analysed by the real pipeline into a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from engage.config import load_config
from engage.minutes.metrics import session_engagement
from engage.runs.analyze import analyze
from engage.runs.demo import DEMO_NAME, closing_lines, intro_line
from engage.sources.spec import demo_clip_path, open_source
from engage.store.database import open_store
from engage.vision.analyzer import FrameAnalyzer


def _demo(tmp_path: Path, **overrides) -> tuple[int, list, object]:
    config = load_config(overrides={"privacy": overrides} if overrides else None, environ={})
    with open_store(tmp_path / "engage.db") as store:
        result = analyze(open_source(demo_clip_path()), store, config, FrameAnalyzer(config), name=DEMO_NAME)
        return result.session.id, store.minutes(result.session.id), config


def test_the_demo_explains_its_numbers_and_points_to_the_dashboard(tmp_path: Path) -> None:
    sid, minutes, config = _demo(tmp_path)
    lines = closing_lines(sid, minutes, config.engagement, db_flag=" --db /tmp/demo.db")
    text = "\n".join(lines)
    (minute,) = minutes
    top = max(minute.emotion_top_share, key=minute.emotion_top_share.get)
    assert lines[0].startswith("what engage saw: one face in each of 4 frames")
    # What the model read, in its own figures, and why a man pulling faces reads as fear or surprise.
    assert f"read his expressions as {top} ({minute.emotion_top_share[top]:.0%} of readings)" in text
    if top in ("fear", "surprise"):
        assert "expressions, not feelings" in text and "pulling faces" in text
    assert f"valence {minute.valence:+.2f}: from -1" in text
    assert f"engagement {session_engagement(minutes):.2f}: from 0 (none) to 1 (full)" in text
    assert "(< 0.25)" in text and "(> 0.65)" in text  # the configured bands
    # The index is expression x attention, and the head-pose figure comes from the stored minute.
    assert "times an" in text and "attention weight" in text
    assert f"facing the front in {minute.attention_facing:.0%} of his samples" in text
    assert "not a class" in text and "What the numbers mean" in text
    assert "next: engage dashboard --db /tmp/demo.db" in text and f"engage show {sid} --db /tmp/demo.db" in text
    assert all(len(line) <= 110 and line.isprintable() for line in lines), lines
    assert "carphone" in intro_line(demo_clip_path()) and "4 s" in intro_line(demo_clip_path())


def test_a_demo_hidden_for_privacy_says_so(tmp_path: Path) -> None:
    sid, minutes, config = _demo(tmp_path, min_faces=3)  # one face: fewer than privacy.min_faces
    text = "\n".join(closing_lines(sid, minutes, config.engagement))
    assert "hidden for privacy" in text and "valence" not in text and "next: engage dashboard" in text
    assert all(m.attention_facing is None for m in minutes) and "facing the front in" not in text
