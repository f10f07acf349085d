"""What the recorder reports while it runs (RecorderStatus) and when it ends (RecordResult)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engage.sources.live import Gap
from engage.store.database import SessionInfo


@dataclass
class RecorderStatus:
    """What the live status line shows; passed to ``on_status`` after every sample time."""

    elapsed_s: float
    minutes: int  # minutes closed (committed)
    faces_now: int  # faces in the latest analysed frame
    sampled: int
    intended: int
    sample_fps: float
    state: str  # recording, reconnecting
    engagement_now: float | None  # running engagement of the open minute

    @property
    def achieved_fps(self) -> float:
        return self.sampled / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def dropped(self) -> int:
        return max(0, self.intended - self.sampled)


@dataclass
class RecordResult:
    session: SessionInfo
    frames: int  # frames analysed
    intended: int  # frames the sample rate intended
    faces: int
    minutes: int
    elapsed_s: float  # session seconds recorded
    stop_reason: str
    gaps: list[Gap] = field(default_factory=list)
    process_ms_median: float | None = None
    process_ms_p95: float | None = None
    error: str | None = None  # why the source ended early (session partial)

    @property
    def dropped(self) -> int:
        return max(0, self.intended - self.frames)

    @property
    def achieved_fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session.to_dict(),
            "frames_sampled": self.frames,
            "frames_intended": self.intended,
            "frames_dropped": self.dropped,
            "sample_fps": self.session.sample_fps,
            "achieved_fps": round(self.achieved_fps, 3),
            "faces": self.faces,
            "minutes": self.minutes,
            "seconds": round(self.elapsed_s, 2),
            "stop_reason": self.stop_reason,
            "gaps": [{"start_s": round(g.start_s, 2), "end_s": g.end_s and round(g.end_s, 2)} for g in self.gaps],
            "process_ms_median": self.process_ms_median,
            "process_ms_p95": self.process_ms_p95,
            "error": self.error,
        }
