"""Mirror sessions to a Google Sheets spreadsheet through gspread 6, without losing or doubling a row.

Layout (README "Google Sheets"): one worksheet with a header row and one row per session-minute, keyed by
(session_id, minute), and a summary worksheet with one row per session. Every write goes to explicit cells
(values:batchUpdate), never through `append`: rewriting a range is idempotent, so a retry after a dropped
connection cannot double a row. One export costs two reads (metadata, key columns), one write for every
worksheet's values together, and a structural write only when a worksheet must be created or grown.

Pacing: a client-side sliding-window limiter per request kind (Google allows 60 reads and 60 writes per
minute per user) and exponential back-off on 408/429/5xx and dropped connections. What cannot be sent
stays in the outbox (engage.sheets.outbox) for the next export or mirror cycle.

Background mirror for long-running commands::

    mirror = mirror_from_config(config, store)   # None when sheets.mirror is off or no spreadsheet is set
    if mirror:
        mirror.start()
    ...                                          # Store.add_minute() queues each minute by itself
    mirror.notify(session_id)                    # optional: send now instead of at the next interval
    report = mirror.stop(timeout=15)             # one last send; what is left stays queued
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gspread
import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from engage.config import Config, SheetsConfig
from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.paths import cache_dir
from engage.sheets import outbox as sheets_outbox
from engage.store.database import SessionInfo, Store, utcnow

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
CELL_LIMIT = 10_000_000  # Google's limit per spreadsheet, counted over every worksheet's grid
NEAR_CELL_LIMIT = 0.9  # warn above this share
GRID_SLACK_ROWS = 500  # grow a worksheet by at least this many rows, so a live session rarely needs a resize
MAX_ROWS_PER_REQUEST = 5000  # keeps each values request well under Google's payload limit
MAX_BACKOFF_S = 64.0
RETRY_STATUS = {408, 429}

MINUTE_COLUMNS: tuple[str, ...] = (
    "session_id",
    "session",
    "session_started",
    "minute",
    "minute_start",
    "minute_end",
    "media_start_s",
    "media_end_s",
    "frames_sampled",
    "frames_expected",
    "faces_total",
    "faces_mean",
    "faces_max",
    "suppressed",
    "dominant_emotion",
    "engagement",
    "engagement_high",
    "engagement_nominal",
    "engagement_low",
    "valence",
    *(f"p_{e}" for e in EMOTIONS),
    *(f"top_{e}" for e in EMOTIONS),
)
MINUTE_KEY_COLUMN = MINUTE_COLUMNS.index("minute")
SUMMARY_COLUMNS: tuple[str, ...] = (
    "session_id",
    "session",
    "kind",
    "status",
    "started",
    "ended",
    "media_duration_s",
    "minutes",
    "faces_mean",
    "mean_engagement",
    "dominant_emotion",
    "mirrored_at",
)

Cell = str | int | float | bool
Sleep = Callable[[float], None]


class SheetsError(EngageError):
    """A Google Sheets problem, in one line. `transient`: worth retrying later (network, quota, 5xx)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


# ------------------------------------------------------------------------------------------- rows


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _cell(value: Any) -> Cell:
    """Numbers stay numbers, booleans booleans; None and non-finite floats become an empty cell."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def minute_row(session: SessionInfo, m: MinuteMetrics) -> list[Cell]:
    """One session-minute as a row of MINUTE_COLUMNS (minute is 1-based, as `engage show` prints it)."""
    values: dict[str, Any] = {
        "session_id": session.id,
        "session": session.name,
        "session_started": _iso(session.started_at),
        "minute": m.minute + 1,
        "minute_start": _iso(session.started_at + timedelta(seconds=m.start_s)),
        "minute_end": _iso(session.started_at + timedelta(seconds=m.end_s)),
        "media_start_s": m.start_s,
        "media_end_s": m.end_s,
        "frames_sampled": m.frames_sampled,
        "frames_expected": m.frames_expected,
        "faces_total": m.faces_total,
        "faces_mean": m.faces_mean,
        "faces_max": m.faces_max,
        "suppressed": bool(m.suppressed),
        "dominant_emotion": m.dominant_emotion,
        "engagement": m.engagement,
        "engagement_high": m.engagement_high,
        "engagement_nominal": m.engagement_nominal,
        "engagement_low": m.engagement_low,
        "valence": m.valence,
    }
    for e in EMOTIONS:
        values[f"p_{e}"] = (m.emotion_mean or {}).get(e)
        values[f"top_{e}"] = (m.emotion_top_share or {}).get(e)
    return [_cell(values[c]) for c in MINUTE_COLUMNS]


def summary_row(session: SessionInfo, minutes: Sequence[MinuteMetrics], now: datetime) -> list[Cell]:
    """One session as a row of SUMMARY_COLUMNS; engagement is weighted by faces, as `engage analyze` prints it."""
    scored = [m for m in minutes if m.engagement is not None and m.faces_total]
    weight = sum(m.faces_total for m in scored)
    mean = sum(m.engagement * m.faces_total for m in scored) / weight if weight else None  # type: ignore[operator]
    dominant = collections.Counter(m.dominant_emotion for m in minutes if m.dominant_emotion).most_common(1)
    values = {
        "session_id": session.id,
        "session": session.name,
        "kind": session.kind,
        "status": session.status,
        "started": _iso(session.started_at),
        "ended": _iso(session.ended_at),
        "media_duration_s": session.media_duration_s,
        "minutes": len(minutes),
        "faces_mean": sum(m.faces_mean for m in minutes) / len(minutes) if minutes else None,
        "mean_engagement": mean,
        "dominant_emotion": dominant[0][0] if dominant else None,
        "mirrored_at": _iso(now),
    }
    return [_cell(values[c]) for c in SUMMARY_COLUMNS]


def _column_letter(n: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def session_worksheet_title(session: SessionInfo) -> str:
    """The worksheet of one session in the per_session layout: its name and id, in Google's title rules."""
    suffix = f" #{session.id}"
    name = re.sub(r"[\[\]*?:/\\]", " ", session.name).strip(" '") or "session"
    return name[: 100 - len(suffix)] + suffix


def spreadsheet_key(key_or_url: str) -> str:
    """The key of a spreadsheet given by key or by its browser URL."""
    text = key_or_url.strip()
    if "/" in text:
        match = re.search(r"/spreadsheets/d/([A-Za-z0-9_-]+)", text) or re.search(r"[?&]key=([A-Za-z0-9_-]+)", text)
        if not match:
            raise SheetsError(f"not a Google Sheets URL: {key_or_url} (expected .../spreadsheets/d/KEY/...)")
        return match.group(1)
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,}", text):
        raise SheetsError(f"not a spreadsheet key or URL: {key_or_url!r}")
    return text


# ------------------------------------------------------------------------------- pacing and retry


class RateLimiter:
    """At most `per_minute` calls in any 60 s window; acquire() sleeps until the next call may go."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, sleep: Sleep = time.sleep) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self.clock()
                while self._sent and now - self._sent[0] >= 60.0:
                    self._sent.popleft()
                if len(self._sent) < self.per_minute:
                    self._sent.append(now)
                    return waited
                delay = 60.0 - (now - self._sent[0])
                self.sleep(delay)
                waited += delay


@dataclass
class Pacing:
    """Limiters, retry policy and request counts shared by the requests of one client."""

    reads: RateLimiter
    writes: RateLimiter
    max_retries: int = 5
    sleep: Sleep = time.sleep
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    retries: int = 0

    @classmethod
    def from_config(cls, sheets: SheetsConfig, sleep: Sleep | None = None) -> Pacing:
        sleep = sleep or time.sleep
        return cls(
            reads=RateLimiter(sheets.reads_per_minute, sleep=sleep),
            writes=RateLimiter(sheets.writes_per_minute, sleep=sleep),
            max_retries=sheets.max_retries,
            sleep=sleep,
        )

    def backoff(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before retry `attempt` (0-based): Retry-After if Google sent one, else 1, 2, 4 ... s + jitter."""
        if retry_after and retry_after.strip().isdigit():
            return min(float(retry_after), MAX_BACKOFF_S)
        return min(2.0**attempt, MAX_BACKOFF_S) * (1 + 0.1 * random.random())


class PacedHTTPClient(HTTPClient):
    """gspread's HTTP client with client-side rate limiting and exponential back-off on 408/429/5xx and
    dropped connections (gspread's own BackOffHTTPClient neither retries connection errors nor paces)."""

    pacing: Pacing

    def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        pacing = self.pacing
        kind = "read" if method.lower() == "get" else "write"
        attempt = 0
        while True:
            (pacing.reads if kind == "read" else pacing.writes).acquire()
            pacing.counts[kind] += 1
            retry_after = None
            try:
                return super().request(method, endpoint, *args, **kwargs)
            except APIError as exc:
                code = exc.response.status_code
                if code not in RETRY_STATUS and code < 500:
                    raise
                retry_after = exc.response.headers.get("Retry-After")
                failure: Exception = exc
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                failure = exc
            if attempt >= pacing.max_retries:
                raise failure
            delay = pacing.backoff(attempt, retry_after)
            log.info("Google Sheets: %s; retrying in %.1f s", _describe(failure), delay)
            pacing.retries += 1
            pacing.sleep(delay)
            attempt += 1


def _describe(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        code = exc.response.status_code
        message = exc.error.get("message") if isinstance(exc.error, dict) else None
        return f"Google returned {code}" + (f" ({' '.join(str(message).split())[:200]})" if message else "")
    if isinstance(exc, requests.Timeout):
        return "Google Sheets did not answer in time"
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "cannot reach Google Sheets (connection failed or dropped)"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def paced_http(client: gspread.Client, sheets: SheetsConfig, pacing: Pacing) -> PacedHTTPClient:
    """A paced, retrying HTTP layer over the client's session (its auth and transport), leaving the client as is."""
    inner = client.http_client
    http = PacedHTTPClient.__new__(PacedHTTPClient)  # HTTPClient.__init__ would build a new session
    http.session = inner.session
    if hasattr(inner, "auth"):
        http.auth = inner.auth
    http.timeout = sheets.timeout_s
    http.pacing = pacing
    return http


# ------------------------------------------------------------------------------------- credentials


def credentials_path(sheets: SheetsConfig) -> Path:
    raw = sheets.credentials or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not raw:
        raise SheetsError(
            "no Google credentials: set sheets.credentials in config.yaml (or GOOGLE_APPLICATION_CREDENTIALS) "
            "to a service-account JSON key; see README, Google Sheets"
        )
    return Path(raw).expanduser()


def open_client(sheets: SheetsConfig, *, interactive: bool = True) -> gspread.Client:
    """A gspread Client from a service-account key, or gspread's OAuth flow for an OAuth client file.

    The key is read here and nowhere else: never logged, never stored in the database. `interactive` False
    (the background mirror) refuses to start an OAuth browser flow.
    """
    path = credentials_path(sheets)
    if not path.is_file():
        raise SheetsError(f"Google credentials file not found: {path}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SheetsError(f"Google credentials file is not valid JSON: {path}") from None
    if not isinstance(info, dict):
        raise SheetsError(f"Google credentials file is not a service-account key: {path}")
    if info.get("type") == "service_account":
        from google.oauth2.service_account import Credentials

        try:
            credentials = Credentials.from_service_account_info(info, scopes=SCOPES)
        except (ValueError, KeyError) as exc:
            # Only google-auth's own "missing fields" text is shown: a parser's message could quote the key.
            text = " ".join(str(exc).split())
            reason = text[:200] if text.startswith("Service account info") else "its private_key cannot be read"
            raise SheetsError(f"bad service-account key in {path}: {reason}") from None
        return gspread.Client(auth=credentials)
    if "installed" in info or "web" in info:
        token = Path("~/.config/gspread/authorized_user.json").expanduser()
        if not interactive and not token.is_file():
            raise SheetsError(
                f"{path} is an OAuth client: run `engage export sheets SESSION` once in a terminal to sign in"
            )
        try:
            return gspread.oauth(scopes=SCOPES, credentials_filename=path)
        except Exception as exc:  # google-auth-oauthlib raises many kinds; the user needs one line
            raise SheetsError(f"Google sign-in with {path} failed: {type(exc).__name__}") from None
    raise SheetsError(
        f'{path} is not a service-account key ("type": "service_account") or an OAuth client file; '
        "download a JSON key for a service account in the Google Cloud console"
    )


# ------------------------------------------------------------------------------------------ export


@dataclass
class ExportResult:
    """What one export or mirror cycle did."""

    spreadsheet_id: str
    title: str
    sessions: list[int]
    rows_updated: int = 0
    rows_appended: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    warnings: list[str] = field(default_factory=list)
    cleared: int = 0  # outbox rows sent

    @property
    def url(self) -> str:
        return f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "spreadsheet_id": self.spreadsheet_id,
            "title": self.title,
            "url": self.url,
            "sessions": self.sessions,
            "rows_updated": self.rows_updated,
            "rows_appended": self.rows_appended,
            "requests": self.requests,
            "retries": self.retries,
            "warnings": self.warnings,
            "cleared": self.cleared,
        }


@dataclass
class _Sheet:
    title: str
    sheet_id: int | None
    rows: int
    columns: int


@dataclass
class _Table:
    """The rows engage wants in one worksheet, by key."""

    title: str
    header: tuple[str, ...]
    key_columns: tuple[int, ...]
    rows: dict[tuple[int, ...], list[Cell]] = field(default_factory=dict)


def _api_error(exc: APIError, key: str, what: str) -> SheetsError:
    code = exc.response.status_code
    if code == 404:
        return SheetsError(f"no spreadsheet with key {key}: check sheets.spreadsheet / --spreadsheet")
    if code == 403:
        return SheetsError(
            f"no access to spreadsheet {key}: share it (as Editor) with the service account's client_email"
        )
    if code == 401:
        return SheetsError("Google refused the credentials (401): check the service-account key")
    transient = code in RETRY_STATUS or code >= 500
    return SheetsError(f"{what} failed: {_describe(exc)}", transient=transient)


def _key_of(row: Sequence[Any], columns: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(int(float(row[c])) for c in columns)
    except (IndexError, TypeError, ValueError):
        return None


class _Pusher:
    """One push of tables to one spreadsheet: metadata, key columns, structure if needed, values."""

    def __init__(self, http: PacedHTTPClient, key: str) -> None:
        self.http = http
        self.key = key

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except APIError as exc:
            raise _api_error(exc, self.key, what) from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise SheetsError(f"{what} failed: {_describe(exc)}", transient=True) from None
        except Exception as exc:  # token refresh (google.auth) and anything the transport raises
            from google.auth import exceptions as auth_exceptions

            if isinstance(exc, auth_exceptions.RefreshError):
                raise SheetsError("Google refused the service-account key (token refresh failed)") from None
            if isinstance(exc, auth_exceptions.TransportError):
                raise SheetsError(f"{what} failed: cannot reach Google's sign-in", transient=True) from None
            raise

    def metadata(self) -> tuple[str, dict[str, _Sheet]]:
        meta = self._call(
            "reading the spreadsheet",
            lambda: self.http.fetch_sheet_metadata(
                self.key, params={"includeGridData": "false", "fields": "properties.title,sheets.properties"}
            ),
        )
        sheets: dict[str, _Sheet] = {}
        for sheet in meta.get("sheets", []):
            props = sheet.get("properties", {})
            grid = props.get("gridProperties", {})
            sheets[props["title"]] = _Sheet(
                props["title"], props.get("sheetId"), int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))
            )
        return meta.get("properties", {}).get("title", self.key), sheets

    def push(self, tables: Sequence[_Table], result: ExportResult) -> None:
        for attempt in range(2):
            try:
                self._push(tables, result)
                return
            except _Restart:
                if attempt:
                    raise SheetsError("the spreadsheet changed while exporting; run the export again") from None

    def _push(self, tables: Sequence[_Table], result: ExportResult) -> None:
        title, sheets = self.metadata()
        result.title = title
        result.rows_updated = result.rows_appended = 0  # counted again after a restart
        result.warnings = []
        existing = [t for t in tables if t.title in sheets]
        ranges = []
        for t in existing:  # its header row and its key columns, every worksheet in one request
            ranges.append(f"{_quote(t.title)}!A1:{_column_letter(len(t.header))}1")
            last_key_column = _column_letter(max(t.key_columns) + 1)
            ranges.append(f"{_quote(t.title)}!A1:{last_key_column}{max(sheets[t.title].rows, 1)}")
        found: dict[str, list[list[Any]]] = {}
        headers: dict[str, list[Any]] = {}
        if ranges:
            answer = self._call(
                "reading the key columns",
                lambda: self.http.values_batch_get(
                    self.key, ranges, params={"valueRenderOption": "UNFORMATTED_VALUE", "majorDimension": "ROWS"}
                ),
            )
            value_ranges = answer.get("valueRanges", [])
            for i, table in enumerate(existing):
                header_rows = value_ranges[2 * i].get("values", []) if 2 * i < len(value_ranges) else []
                headers[table.title] = header_rows[0] if header_rows else []
                found[table.title] = value_ranges[2 * i + 1].get("values", []) if 2 * i + 1 < len(value_ranges) else []

        structure: list[dict[str, Any]] = []
        data: list[tuple[str, int, list[list[Cell]]]] = []  # (title, first row, rows)
        added_cells = 0
        for table in tables:
            current = found.get(table.title, [])
            width = len(table.header)
            if current and current[0] and str(current[0][0]) != table.header[0]:
                raise SheetsError(
                    f"worksheet '{table.title}' holds something else (its first cell is not "
                    f"'{table.header[0]}'): choose another worksheet name"
                )
            positions = {}
            for index, row in enumerate(current[1:], start=2):
                key = _key_of(row, table.key_columns)
                if key is not None:
                    positions.setdefault(key, index)
            next_row = max(len(current), 1) + 1
            writes: dict[int, list[Cell]] = {}
            if headers.get(table.title) != list(table.header):
                writes[1] = list(table.header)
            for key, row in sorted(table.rows.items()):
                if key in positions:
                    writes[positions[key]] = row
                    result.rows_updated += 1
                else:
                    writes[next_row] = row
                    next_row += 1
                    result.rows_appended += 1
            if not writes:
                continue
            needed_rows = max(writes)
            sheet = sheets.get(table.title)
            if sheet is None:
                rows = needed_rows + GRID_SLACK_ROWS
                structure.append(
                    {
                        "addSheet": {
                            "properties": {
                                "title": table.title,
                                "gridProperties": {"rowCount": rows, "columnCount": width, "frozenRowCount": 1},
                            }
                        }
                    }
                )
                added_cells += rows * width
            elif needed_rows > sheet.rows or width > sheet.columns:
                rows = max(sheet.rows, needed_rows + GRID_SLACK_ROWS if needed_rows > sheet.rows else 0)
                columns = max(sheet.columns, width)
                # Absolute sizes, not appendDimension: repeating it after a lost response changes nothing.
                structure.append(
                    {
                        "updateSheetProperties": {
                            "properties": {
                                "sheetId": sheet.sheet_id,
                                "gridProperties": {"rowCount": rows, "columnCount": columns},
                            },
                            "fields": "gridProperties.rowCount,gridProperties.columnCount",
                        }
                    }
                )
                added_cells += rows * columns - sheet.rows * sheet.columns
            # Consecutive rows go out as one range.
            block: list[list[Cell]] = []
            start = 0
            for row_number in sorted(writes):
                if block and row_number == start + len(block) and len(block) < MAX_ROWS_PER_REQUEST:
                    block.append(writes[row_number])
                    continue
                if block:
                    data.append((table.title, start, block))
                start, block = row_number, [writes[row_number]]
            if block:
                data.append((table.title, start, block))

        used = sum(s.rows * s.columns for s in sheets.values())
        if added_cells and used + added_cells > CELL_LIMIT:
            raise SheetsError(
                f"spreadsheet '{title}' is at Google's 10 million cell limit ({used:,} cells in its worksheets, this "
                f"export needs {added_cells:,} more): set sheets.spreadsheet to a new spreadsheet or delete unused "
                "worksheets; the minutes stay queued"
            )
        if used + added_cells > NEAR_CELL_LIMIT * CELL_LIMIT:
            result.warnings.append(
                f"spreadsheet '{title}' uses {used + added_cells:,} of Google's 10,000,000 cells: start a new one soon"
            )
        if structure:

            def prepare() -> Any:
                try:
                    return self.http.batch_update(self.key, {"requests": structure})
                except APIError as exc:
                    # A worksheet added by an attempt whose answer was lost: read the metadata again.
                    if exc.response.status_code == 400 and "already exists" in str(exc.error.get("message", "")):
                        raise _Restart from None
                    raise

            self._call("preparing the worksheets", prepare)
        # Every worksheet's values in as few requests as possible (one for anything up to 5000 rows).
        batch: list[dict[str, Any]] = []
        batch_rows = 0
        for title_, first, rows in data:
            if batch and batch_rows + len(rows) > MAX_ROWS_PER_REQUEST:
                self._send_values(batch)
                batch, batch_rows = [], 0
            last_column = _column_letter(max(len(r) for r in rows))
            batch.append(
                {
                    "range": f"{_quote(title_)}!A{first}:{last_column}{first + len(rows) - 1}",
                    "majorDimension": "ROWS",
                    "values": rows,
                }
            )
            batch_rows += len(rows)
        if batch:
            self._send_values(batch)

    def _send_values(self, batch: list[dict[str, Any]]) -> None:
        # RAW: a session named "=IMPORTXML(...)" stays text, never a formula; numbers stay numbers.
        self._call(
            "writing the rows",
            lambda: self.http.values_batch_update(self.key, {"valueInputOption": "RAW", "data": batch}),
        )


class _Restart(Exception):
    pass


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
) -> list[_Table]:
    minutes_tables: dict[str, _Table] = {}
    summary = _Table(sheets.summary_worksheet, SUMMARY_COLUMNS, (0,))
    for item in work:
        session = item.session
        stored = store.minutes(session.id)
        title = session_worksheet_title(session) if sheets.layout == "per_session" else worksheet or sheets.worksheet
        table = minutes_tables.setdefault(title, _Table(title, MINUTE_COLUMNS, (0, MINUTE_KEY_COLUMN)))
        for m in stored:
            if item.minutes is None or m.minute in item.minutes:
                table.rows[(session.id, m.minute + 1)] = minute_row(session, m)
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
    items: list[sheets_outbox.PendingItem] = []
    if mirror_target:
        explicit = [s.id for s in sessions]
        if explicit:
            items += sheets_outbox.pending(store, session_ids=explicit)
        if include_pending:
            items += [i for i in sheets_outbox.pending(store, limit=pending_limit) if i.session_id not in work]
        for item in items:
            if item.session_id in work:
                entry = work[item.session_id]
                if entry.minutes is not None and item.minute is not None:
                    entry.minutes.add(item.minute)
                continue
            try:
                info = store.get_session(item.session_id)
            except EngageError:
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
                _Pusher(http, key).push(tables, result)
        finally:
            result.requests = dict(pacing.counts - counts_before)
            result.retries = pacing.retries - retries_before
    except SheetsError as exc:
        if mirror_target:
            for session in sessions:
                sheets_outbox.queue_session(store, session.id)
            sheets_outbox.failed(store, [i.id for i in sheets_outbox.pending(store, session_ids=list(work))], str(exc))
            waiting = sum(1 for i in sheets_outbox.pending(store) if i.minute is not None)
            raise SheetsError(f"{exc} ({waiting} minute(s) stay queued)", transient=exc.transient) from None
        raise
    if mirror_target and ids:
        sheets_outbox.done(store, ids)
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


# ------------------------------------------------------------------------------------------ mirror


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
            items = sheets_outbox.pending(self.store)
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


def outbox_summary(store: Store) -> Mapping[str, Any]:
    """What `engage export sheets --status` shows."""
    rows = sheets_outbox.status(store)
    return {
        "pending_minutes": sum(r.minutes for r in rows),
        "pending_sessions": len(rows),
        "sessions": [r.to_dict() for r in rows],
    }
