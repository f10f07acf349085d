"""Google Sheets export: requests and time per export, and what the mirror costs a writer when Google is down.

Runs gspread's real client against the fake Sheets v4 server of the tests (tests/fake_sheets.py) on
127.0.0.1, so the figures are engage's own cost (no network). Prints:
  - a 4-hour session (240 minutes): first export and re-export, requests (read/write) and seconds;
  - 20 sessions of 60 queued minutes drained at once;
  - Store.add_minute latency with no mirror, and with a mirror running while Google answers 500.

    python benchmarks/sheets_export.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common import REPO

sys.path.insert(0, str(REPO / "tests"))

from fake_sheets import FakeSheets  # noqa: E402

from engage.config import SheetsConfig  # noqa: E402
from engage.emotions import EMOTIONS  # noqa: E402
from engage.minutes.metrics import MinuteMetrics  # noqa: E402
from engage.sheets.mirror import SheetsMirror  # noqa: E402
from engage.sheets.outbox import subscribe_if_configured  # noqa: E402
from engage.sheets.push import export_sessions, send_pending  # noqa: E402
from engage.store.database import Store  # noqa: E402

KEY = "1BenchmarkSpreadsheet000"


def minute(k: int) -> MinuteMetrics:
    shares = {e: 1 / 7 for e in EMOTIONS}
    return MinuteMetrics(k, 60.0 * k, 60.0 * k + 59, 60, 60, 120, 2.0, 3, False, shares, shares, "neutral", 0.0,
                         0.5, 0.2, 0.7, 0.1)  # fmt: skip


def session(store: Store, name: str, minutes: int) -> int:
    sid = store.create_session(name, "x.mp4", "video", 1.0, "m", {}, started_at=datetime(2026, 11, 2, 9, tzinfo=UTC))
    for k in range(minutes):
        store.add_minute(sid, minute(k))
    store.finish_session(sid, "completed")
    return sid


def add_minute_ms(store: Store, sid: int, n: int = 200) -> list[float]:
    times = []
    for k in range(n):
        started = time.perf_counter()
        store.add_minute(sid, minute(1000 + k))
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    config = SheetsConfig(spreadsheet=KEY)
    with tempfile.TemporaryDirectory() as folder, FakeSheets() as fake:
        fake.add_spreadsheet(KEY)
        store = Store(Path(folder) / "bench.db")
        subscribe_if_configured(store, config)  # as the CLI does: every write is queued for Sheets
        sid = session(store, "four hours", 240)
        for label in ("first export", "re-export"):
            started = time.perf_counter()
            result = export_sessions(store, [store.get_session(sid)], config, client=fake.client())
            print(f"4-hour session, {label}: {result.requests} requests, {time.perf_counter() - started:.2f} s")

        for n in range(20):
            session(store, f"class {n}", 60)
        started = time.perf_counter()
        result = send_pending(store, config, client=fake.client())
        print(
            f"20 sessions x 60 queued minutes drained: {result.requests} requests, "
            f"{result.rows_appended} rows, {time.perf_counter() - started:.2f} s"
        )

        live = store.create_session("live", "camera:0", "camera", 1.0, "m", {})
        quiet = add_minute_ms(store, live)
        fake.fail(500, times=100_000)
        mirror = SheetsMirror(config.model_copy(update={"interval_s": 1.0}), store, client=fake.client())
        mirror.start()
        down = add_minute_ms(store, live)
        report = mirror.stop(timeout=5)
        print(
            f"add_minute median/p95: {statistics.median(quiet):.2f}/{sorted(quiet)[189]:.2f} ms without a mirror, "
            f"{statistics.median(down):.2f}/{sorted(down)[189]:.2f} ms with a mirror while Google answers 500 "
            f"({report.pending_minutes} minutes left queued)"
        )


if __name__ == "__main__":
    main()
