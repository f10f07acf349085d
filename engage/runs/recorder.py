"""Live recording: a camera, a stream or a video file played in real time, committed minute by minute.

The capture thread (engage.sources.live.Grabber) holds only the newest frame. The inference loop here
wakes at each sample time (``sample_fps``), takes that frame, detects and classifies its faces and feeds the
same aggregator and session lifecycle (engage.runs.session) as `engage analyze`. When a frame takes longer
than the sample interval the sample times it missed are dropped, never caught up, and each minute stores how
many frames it sampled (``frames_sampled``) against how many the rate intended (``frames_expected``).

Minutes close by the clock, not by the next frame: a camera that is down for three minutes still gets its
minutes written (with no frames), and the dashboard sees each minute as soon as it is over. Timestamps are
seconds since the start on the session's clock (wall clock for cameras and streams; the file's own media
time, paced to the clock, for a file played in real time).
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import threading
import time
from array import array
from collections.abc import Callable

from engage.config import Config
from engage.errors import EngageError
from engage.minutes.aggregate import MinuteAggregator
from engage.minutes.metrics import MinuteMetrics
from engage.runs.preview import Preview
from engage.runs.recorder_status import RecorderStatus, RecordResult
from engage.runs.session import Outcome, SessionSpec, SessionWriter, kept, open_session
from engage.sources.live import Clock, Grabber, LiveInput, SystemClock
from engage.store.database import Store
from engage.types import Frame, SessionListener
from engage.vision.analyzer import FrameAnalyzer

log = logging.getLogger(__name__)


class Recorder:
    """Record one live session: ``run()`` blocks until stopped and returns the summary.

    Stop it with ``request_stop()`` (signal handlers, another thread), ``duration``, the end of a file, or
    KeyboardInterrupt. ``mirror``: a listener (the Sheets mirror) told after each committed minute; the
    caller starts and stops it.
    The open minute is closed and the session finished in every case; a kill -9 leaves it
    ``running`` with every closed minute committed, and the next start marks it ``interrupted``.
    """

    def __init__(
        self,
        live: LiveInput,
        store: Store,
        config: Config,
        analyzer: FrameAnalyzer,
        *,
        name: str | None = None,
        duration: float | None = None,
        clock: Clock | None = None,
        preview: Preview | None = None,
        on_status: Callable[[RecorderStatus], None] | None = None,
        on_minute: Callable[[MinuteMetrics], None] | None = None,
        mirror: SessionListener | None = None,
    ) -> None:
        if duration is not None and not duration > 0:
            raise EngageError(f"duration must be a positive number of seconds, got {duration}")
        self.live, self.store, self.config, self.analyzer = live, store, config, analyzer
        self.name = name or live.name
        self.duration = duration
        self.clock = clock or SystemClock()
        self.preview = preview
        self.on_status, self.on_minute = on_status, on_minute
        self.mirror = mirror
        self.fps = config.sample_fps
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self.session_id: int | None = None
        self._writer: SessionWriter | None = None

    def request_stop(self, reason: str = "stopped") -> None:
        """Ask the recording to end at the next sample time (safe from signal handlers and other threads)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- minutes

    def _commit(self, metrics: MinuteMetrics | None) -> None:
        if metrics is None:
            return
        self._pending.append(metrics)
        self._flush()

    def _flush(self) -> None:
        """Commit pending minutes; a locked or unreachable database keeps them for the next try."""
        assert self._writer is not None
        while self._pending:
            metrics = self._pending[0]
            try:
                self._writer.add(metrics)
            except EngageError as exc:
                log.warning("minute %d not committed yet (%s); will retry", metrics.minute + 1, exc)
                return
            self._pending.pop(0)
            self._minutes += 1
            self._intended_closed += metrics.frames_expected
            if self.on_minute:
                self.on_minute(metrics)

    def _empty_minute(self, minute: int, until: float) -> MinuteMetrics:
        start = minute * 60.0
        expected = math.ceil(round((min(until, start + 60.0) - start) * self.fps, 6))
        return MinuteMetrics(minute, start, start, 0, expected, 0, 0.0, 0, suppressed=True)

    def _close_before(self, t: float) -> None:
        """Close every minute that ended before session time ``t`` (an empty one if no frame was analysed)."""
        target = int(t // 60)
        while self._next_minute < target:
            m = self._next_minute
            if self._open_minute == m:
                self._commit(self._aggregator.finish((m + 1) * 60.0))
                self._open_minute = None
            else:
                self._commit(self._empty_minute(m, (m + 1) * 60.0))
            self._next_minute = m + 1

    def _close_last(self, end: float) -> None:
        self._close_before(end)
        m = self._next_minute
        if self._open_minute == m:
            self._commit(self._aggregator.finish(end))
            self._open_minute = None
        elif end - m * 60.0 > 1e-6 and math.ceil(round((end - m * 60.0) * self.fps, 6)) > 0:
            self._commit(self._empty_minute(m, end))
        self._next_minute = m + 1

    # -- the loop

    def _status(self, elapsed: float) -> RecorderStatus:
        return RecorderStatus(
            elapsed_s=elapsed,
            minutes=self._minutes,
            faces_now=self._faces_now,
            sampled=self._frames,
            intended=self._intended,
            sample_fps=self.fps,
            state=self._grabber.state if self._grabber else "recording",
            engagement_now=self._aggregator.open_engagement,
        )

    def _now(self) -> float:
        """Session time: the clock for live sources, the media time reached for a file played in real time."""
        return self._grabber.position if self.live.media_time else self._grabber.elapsed()

    def run(self) -> RecordResult:
        config = self.config
        self._aggregator = MinuteAggregator.from_config(config)
        self._pending: list[MinuteMetrics] = []
        self._minutes = self._frames = self._faces = self._faces_now = self._intended = 0
        self._intended_closed = 0
        self._next_minute = 0
        self._open_minute: int | None = None
        self._grabber: Grabber | None = None
        process_ms = array("d")  # 8 bytes a frame: 170 kB for 3 hours at 2 frames/s
        session = self.analyzer.for_session()  # tracks and the class's direction belong to this recording
        interval = 1.0 / self.fps

        spec = SessionSpec(
            self.name, self.live.uri, self.live.kind, self.fps, self.analyzer.classifier.name,
            config.for_storage(),
        )  # fmt: skip
        self._writer = SessionWriter(self.store, open_session(self.store, spec), self.mirror)
        self.session_id = self._writer.session_id
        t0 = self.clock.now()
        grabber = self._grabber = Grabber(self.live, self.clock, t0, config.recorder.reconnect_s, self._stop)
        grabber.start()
        tick = 0  # number of the next sample time, due at tick / fps
        end = 0.0
        failure: BaseException | None = None
        try:
            while True:
                if self._stop.is_set():
                    break
                if grabber.state == "ended":
                    self.request_stop("end of file")
                    break
                if grabber.state == "failed":
                    break
                now = self._now()
                if self.duration is not None and grabber.elapsed() >= self.duration:
                    self.request_stop("duration reached")
                    break
                if self.preview is not None and not self.preview.poll():
                    self.request_stop("preview window closed")
                    break
                due = tick * interval
                if now < due:
                    self.clock.sleep(min(due - now, 0.05 * self.clock.scale))
                    continue
                # Sample times that passed while the last frame was processed are dropped, not caught up.
                current = math.floor(now * self.fps + 1e-9)
                self._intended += current - tick + 1
                tick = current + 1
                self._close_before(now)
                if grabber.state != "recording":
                    self._emit(now)
                    continue
                after = grabber.request()
                shot = grabber.take(after, timeout_real=max(2 * interval, 1.0) / self.clock.scale)
                if shot is None:
                    self._emit(now)
                    continue
                image, t = shot
                del shot
                t = max(t, self._next_minute * 60.0)  # never into a minute already committed
                started = time.perf_counter()
                result = session.analyze(Frame(image, t, self._frames))
                process_ms.append((time.perf_counter() - started) * 1000)
                self._close_before(t)
                self._open_minute = int(t // 60)
                for closed in self._aggregator.add(result):  # empty: minutes were closed above
                    self._commit(closed)
                self._frames += 1
                self._faces_now = len(result.boxes)
                self._faces += self._faces_now
                if self._pending:
                    self._flush()
                status = self._emit(max(now, t))
                if self.preview is not None:
                    try:
                        self.preview.show(image, result, status)
                    except Exception as exc:  # a broken window must not end the lecture's recording
                        log.warning("preview failed, going on without it: %s", exc)
                        self.preview = None
                del image, result
        except KeyboardInterrupt:
            self.request_stop("Ctrl-C")
        except BaseException as exc:
            failure = exc
        finally:
            self._stop.set()
            grabber.thread.join(timeout=max(5.0, config.recorder.stream_timeout_s + 1))
            end = self._end_time(grabber)
            self._close_last(end)
            # Sample times intended: every one up to the end, by the minutes' own accounting.
            self._intended = max(self._intended_closed + sum(m.frames_expected for m in self._pending), self._frames)
            self._flush()
            if self.preview is not None:
                with contextlib.suppress(Exception):
                    self.preview.close()
        return self._finish(end, grabber, failure, process_ms)

    def _end_time(self, grabber: Grabber) -> float:
        if self.live.media_time:
            if grabber.state == "ended" and self.live.duration:
                return self.live.duration
            return min(grabber.position, self.duration) if self.duration is not None else grabber.position
        end = grabber.elapsed()
        return min(end, self.duration) if self.duration is not None else end

    def _emit(self, elapsed: float) -> RecorderStatus:
        status = self._status(elapsed)
        if self.on_status:
            self.on_status(status)
        return status

    def _finish(self, end: float, grabber: Grabber, failure: BaseException | None, process_ms: array) -> RecordResult:
        assert self.session_id is not None and self._writer is not None
        reason = self._stop_reason or ("source failed" if grabber.state == "failed" else "stopped")
        gaps = list(grabber.gaps)
        notes = [g.describe() for g in gaps]
        if self._pending:
            notes.append(f"{len(self._pending)} minute(s) could not be committed")
        error = None
        if failure is not None:
            status, error = "partial", f"{type(failure).__name__}: {failure}"
        elif grabber.state == "failed":
            status, error = "partial", grabber.error
        else:
            status = "completed"
        detail = "; ".join(filter(None, [error or reason, *notes]))
        if status == "partial":
            detail += f" ({kept(self._minutes)})"
        self._writer.finish(Outcome(status, detail, end))
        if failure is not None:
            raise failure
        ms = sorted(process_ms)
        return RecordResult(
            session=self.store.get_session(self.session_id),
            frames=self._frames,
            intended=self._intended,
            faces=self._faces,
            minutes=self._minutes,
            elapsed_s=end,
            stop_reason=reason,
            gaps=gaps,
            process_ms_median=round(statistics.median(ms), 2) if ms else None,
            process_ms_p95=round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 2) if ms else None,
            error=error,
        )
