"""Export sessions to a Google Sheets spreadsheet without losing or doubling a row (engage.sheets.writer).

To the configured spreadsheet, what the Store's outbox holds for consumer "sheets" goes too, and leaves
the outbox only once the spreadsheet has it; what cannot be sent stays queued for the next export or
mirror cycle. One push at a time per spreadsheet on this machine.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import gspread

from engage.config import SheetsConfig
from engage.errors import SessionNotFound
from engage.paths import cache_dir
from engage.sheets.client import (
    MINUTE_COLUMNS,
    MINUTE_KEY_COLUMN,
    SUMMARY_COLUMNS,
    Pacing,
    SheetsError,
    Sleep,
    minute_row,
    open_client,
    paced_http,
    session_worksheet_title,
    spreadsheet_key,
    summary_row,
)
from engage.sheets.outbox import CONSUMER
from engage.sheets.writer import ExportResult, Pusher, Table
from engage.store.database import Store
from engage.store.outbox import OutboxItem
from engage.store.schema import SessionInfo, utcnow

_THREAD_LOCKS: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _spreadsheet_lock(key: str, timeout: float = 120.0) -> Iterator[None]:
    """One push at a time per spreadsheet, across threads and processes of this machine.

    Two writers placing new rows at once would both pick the same free rows. (Writers on other machines
    are not serialised: give each machine its own worksheet.)
    """
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS[key]
    if not thread_lock.acquire(timeout=timeout):
        raise SheetsError("another export to this spreadsheet is still running; try again", transient=True)
    handle = None
    try:
        try:
            import fcntl

            folder = cache_dir() / "sheets-locks"
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / f"{key}.lock", "a+")  # noqa: SIM115 - held until the push ends
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SheetsError(
                            "another engage process is still exporting to this spreadsheet; try again", transient=True
                        ) from None
                    time.sleep(0.1)
        except (ImportError, OSError):  # no fcntl (Windows) or no cache folder: this process only
            pass
        yield
    finally:
        if handle is not None:
            handle.close()
        thread_lock.release()


@dataclass
class _Work:
    session: SessionInfo
    minutes: set[int] | None  # None: every stored minute


def _tables(
    store: Store, work: Iterable[_Work], sheets: SheetsConfig, worksheet: str | None, now: datetime
) -> list[Table]:
    minutes_tables: dict[str, Table] = {}
    summary = Table(sheets.summary_worksheet, SUMMARY_COLUMNS, (0,))
    for item in work:
        session = item.session
        stored = store.minutes(session.id)
        title = session_worksheet_title(session) if sheets.layout == "per_session" else worksheet or sheets.worksheet
        table = minutes_tables.setdefault(title, Table(title, MINUTE_COLUMNS, (0, MINUTE_KEY_COLUMN)))
        for m in stored:
            if item.minutes is None or m.minute in item.minutes:
                table.rows[(session.id, m.number)] = minute_row(session, m)
        summary.rows[(session.id,)] = summary_row(session, stored, now)
    return [*minutes_tables.values(), summary]


def export_sessions(
    store: Store,
    sessions: Sequence[SessionInfo],
    sheets: SheetsConfig,
    *,
    spreadsheet: str | None = None,
    worksheet: str | None = None,
    client: gspread.Client | None = None,
    sleep: Sleep | None = None,
    pacing: Pacing | None = None,
    include_pending: bool = True,
    interactive: bool = True,
    pending_limit: int | None = None,
) -> ExportResult:
    """Export whole sessions (and, to the configured spreadsheet, everything queued) in a handful of requests.

    Rows already in the sheet are updated in place, new ones appended; nothing is doubled. To the configured
    spreadsheet the sent outbox rows are cleared, and on a failure the sessions are queued and the error says
    so. `client`: a gspread Client (tests point one at a fake server); None opens one from the credentials.
    `pacing`: limiters shared across calls (the mirror keeps one); None: fresh ones from `sheets`, sleeping
    with `sleep`.
    """
    target = spreadsheet or sheets.spreadsheet
    if not target:
        raise SheetsError("no spreadsheet: pass --spreadsheet KEY_OR_URL or set sheets.spreadsheet in config.yaml")
    key = spreadsheet_key(target)
    mirror_target = sheets.spreadsheet is None or spreadsheet_key(sheets.spreadsheet) == key
    if worksheet is not None and sheets.layout == "table" and sheets.spreadsheet and mirror_target:
        mirror_target = worksheet == sheets.worksheet
    work: dict[int, _Work] = {s.id: _Work(s, None) for s in sessions}
    items: list[OutboxItem] = []
    if mirror_target:
        explicit = [s.id for s in sessions]
        if explicit:
            items += store.outbox_pending(CONSUMER, session_ids=explicit)
        if include_pending:
            items += [i for i in store.outbox_pending(CONSUMER, limit=pending_limit) if i.session_id not in work]
        for item in items:
            if item.session_id in work:
                entry = work[item.session_id]
                if entry.minutes is not None and item.minute is not None:
                    entry.minutes.add(item.minute)
                continue
            try:
                info = store.get_session(item.session_id)
            except SessionNotFound:
                continue  # deleted meanwhile: its outbox rows went with it
            work[item.session_id] = _Work(info, set() if item.minute is None else {item.minute})
    result = ExportResult(spreadsheet_id=key, title=key, sessions=sorted(work))
    if not work:
        return result
    ids = [i.id for i in items]
    try:
        if client is None:
            client = open_client(sheets, interactive=interactive)
        pacing = pacing or Pacing.from_config(sheets, sleep)
        http = paced_http(client, sheets, pacing)
        tables = _tables(store, work.values(), sheets, worksheet, utcnow())
        counts_before, retries_before = collections.Counter(pacing.counts), pacing.retries
        try:
            with _spreadsheet_lock(key):
                Pusher(http, key).push(tables, result)
        finally:
            result.requests = dict(pacing.counts - counts_before)
            result.retries = pacing.retries - retries_before
    except SheetsError as exc:
        if mirror_target:
            for session in sessions:
                store.outbox_queue_session(CONSUMER, session.id)
            store.outbox_failed([i.id for i in store.outbox_pending(CONSUMER, session_ids=list(work))], str(exc))
            waiting = sum(1 for i in store.outbox_pending(CONSUMER) if i.minute is not None)
            raise SheetsError(f"{exc} ({waiting} minute(s) stay queued)", transient=exc.transient) from None
        raise
    if mirror_target and ids:
        store.outbox_done(ids)
        result.cleared = len(ids)
    return result


def send_pending(
    store: Store,
    sheets: SheetsConfig,
    *,
    client: gspread.Client | None = None,
    sleep: Sleep | None = None,
    pacing: Pacing | None = None,
    interactive: bool = True,
    limit: int | None = 20_000,
) -> ExportResult:
    """Send what the outbox holds to the configured spreadsheet (the mirror's cycle; `engage export sheets`)."""
    return export_sessions(
        store, [], sheets, client=client, sleep=sleep, pacing=pacing, interactive=interactive, pending_limit=limit
    )
