"""The background Google Sheets mirror: drains the Store's outbox (consumer "sheets") while a command runs.

    mirror = mirror_from_config(config, store)   # None when sheets.mirror is off or no spreadsheet is set
    if mirror:
        mirror.start()
    ...                                          # Store.add_minute() queues each minute by itself
    mirror.notify(session_id)                    # optional: send now instead of at the next interval
    report = mirror.stop(timeout=15)             # one last send; what is left stays queued

SheetsMirror is an engage.types.SessionListener: the recorder, analyze and batch call notify() as minutes close.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gspread

from engage.config import Config, SheetsConfig
from engage.errors import EngageError
from engage.sheets.client import Pacing, SheetsError, Sleep, open_client
from engage.sheets.outbox import CONSUMER
from engage.sheets.push import ExportResult, send_pending
from engage.store.database import Store

log = logging.getLogger(__name__)


@dataclass
class MirrorReport:
    """How a mirror ended: rows still queued, and the last error if the last attempt failed."""

    pending_minutes: int
    pending_sessions: int
    last_error: str | None
    cycles: int
    sent: int


class SheetsMirror:
    """Drains the outbox to Google Sheets from a daemon thread, so a recorder or batch never waits for Google.

    notify() never blocks and never raises; failures are backed off (interval_s doubling up to 5 min) and
    reported once through `on_event`; stop() makes one last attempt within its timeout. Whatever is not sent
    stays in the database for the next export or mirror.
    """

    def __init__(
        self,
        config: Config | SheetsConfig,
        store_url: str | Path | Store,
        *,
        client: gspread.Client | None = None,
        sleep: Sleep | None = None,
        on_event: Callable[[str], None] | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.sheets = config.sheets if isinstance(config, Config) else config
        if isinstance(store_url, Store):
            store_url = store_url.url.render_as_string(hide_password=False)
        self.store = Store(store_url)
        self.store.subscribe(CONSUMER)  # from now on every write to the database is queued for the mirror
        self.client = client
        self.interval_s = self.sheets.interval_s if interval_s is None else interval_s
        self.on_event = on_event
        self._sleep = sleep
        self.pacing = Pacing.from_config(self.sheets, self._interruptible_sleep)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.cycles = 0
        self.sent = 0
        self.failures = 0
        self.last_error: str | None = None
        self.last_result: ExportResult | None = None

    def start(self) -> SheetsMirror:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="engage-sheets-mirror", daemon=True)
            self._thread.start()
        return self

    def notify(self, session_id: int | None = None) -> None:
        """Ask for a send soon (the minutes are already queued by the Store). Never blocks, never raises."""
        self._wake.set()

    def _interruptible_sleep(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        elif self._stopping.wait(seconds):
            raise _Stopping

    def _event(self, message: str) -> None:
        if self.on_event is None:
            log.warning("%s", message)
            return
        try:
            self.on_event(message)
        except Exception:  # a broken callback must not end the mirror
            log.warning("%s", message)

    def cycle(self, final: bool = False) -> bool:
        """One send of the outbox; True when it succeeded (or there was nothing to send)."""
        self.cycles += 1
        if final:
            self.pacing.max_retries = 0  # stopping: one try, whatever is left stays queued
        try:
            if self.client is None:
                self.client = open_client(self.sheets, interactive=False)
            result = send_pending(self.store, self.sheets, client=self.client, pacing=self.pacing, interactive=False)
        except _Stopping:
            return False
        except SheetsError as exc:
            self.failures += 1
            if str(exc) != self.last_error:
                self._event(f"Google Sheets mirror: {exc}; retrying in the background")
            self.last_error = str(exc)
            return False
        except Exception as exc:  # the recorder must go on whatever happens here
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            self._event(f"Google Sheets mirror failed: {self.last_error}")
            return False
        if self.last_error is not None:
            self._event("Google Sheets mirror: sending again")
        self.last_error = None
        self.failures = 0
        self.sent += result.cleared
        self.last_result = result
        for warning in result.warnings:
            self._event(warning)
        return True

    def _run(self) -> None:
        delay = 0.0
        while not self._stopping.is_set():
            self._wake.wait(delay)
            if self._stopping.is_set():
                break
            self._wake.clear()
            ok = self.cycle()
            delay = self.interval_s if ok else min(self.interval_s * 2 ** min(self.failures, 10), 300.0)
        self.cycle(final=True)

    def stop(self, timeout: float = 15.0) -> MirrorReport:
        """Make one last attempt (no retries) and wait up to `timeout` s; what is left stays queued."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            items = self.store.outbox_pending(CONSUMER)
        except EngageError:
            items = []
        finally:
            if self._thread is None or not self._thread.is_alive():
                self.store.close()
        return MirrorReport(
            pending_minutes=sum(1 for i in items if i.minute is not None),
            pending_sessions=len({i.session_id for i in items}),
            last_error=self.last_error,
            cycles=self.cycles,
            sent=self.sent,
        )


class _Stopping(Exception):
    pass


def mirror_from_config(
    config: Config,
    db: Store | str | Path,
    *,
    client: gspread.Client | None = None,
    on_event: Callable[[str], None] | None = None,
) -> SheetsMirror | None:
    """A SheetsMirror (not started) when sheets.mirror is on and a spreadsheet is set; else None."""
    if not config.sheets.mirror or not config.sheets.spreadsheet:
        return None
    return SheetsMirror(config, db, client=client, on_event=on_event)
