"""Google Sheets through gspread 6: the rows engage writes, request pacing, and the client.

Layout (README "Google Sheets"): one worksheet with a header row and one row per session-minute, keyed by
(session_id, minute), and a summary worksheet with one row per session (minute_row, summary_row).

Pacing: a client-side sliding-window limiter per request kind (Google allows 60 reads and 60 writes per
minute per user) and exponential back-off on 408/429/5xx and dropped connections.

engage.sheets.push writes these rows to a spreadsheet; engage.sheets.mirror mirrors the Store's outbox
(engage.sheets.outbox) from a thread while a command runs.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import gspread
import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from engage.config import SheetsConfig
from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.metrics import MEAN_PREFIX, ROW_COLUMNS, SHARE_PREFIX, MinuteMetrics, session_engagement
from engage.paths import expand_user
from engage.store.schema import SessionInfo

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
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
    # Added later, so last, in the order they were added: rows written before keep their columns (their new cells
    # stay empty) and the header row gains the new names. The 90% intervals and corrected_<emotion> shares, then
    # head pose and attention (people, attention_facing/_down/_away, readable_share, engagement_v1).
    *ROW_COLUMNS[ROW_COLUMNS.index("engagement_low90") :],
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


# Sheets columns that name a field of MinuteMetrics' flat row differently (the worksheets predate the row).
_SHEET_TO_ROW: dict[str, str] = {
    "media_start_s": "start_s",
    "media_end_s": "end_s",
    **{f"p_{e}": MEAN_PREFIX + e for e in EMOTIONS},
    **{f"top_{e}": SHARE_PREFIX + e for e in EMOTIONS},
}


def minute_row(session: SessionInfo, m: MinuteMetrics) -> list[Cell]:
    """One session-minute as a row of MINUTE_COLUMNS: the minute's flat row (minute 1-based) with wall-clock times."""
    row = m.to_row()
    values: dict[str, Any] = {
        "session_id": session.id,
        "session": session.name,
        "session_started": _iso(session.started_at),
        "minute_start": _iso(session.started_at + timedelta(seconds=m.start_s)),
        "minute_end": _iso(session.started_at + timedelta(seconds=m.end_s)),
    }
    return [_cell(values[c] if c in values else row[_SHEET_TO_ROW.get(c, c)]) for c in MINUTE_COLUMNS]


def summary_row(session: SessionInfo, minutes: Sequence[MinuteMetrics], now: datetime) -> list[Cell]:
    """One session as a row of SUMMARY_COLUMNS; engagement is weighted by faces, as `engage analyze` prints it."""
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
        "mean_engagement": session_engagement(minutes),
        "dominant_emotion": dominant[0][0] if dominant else None,
        "mirrored_at": _iso(now),
    }
    return [_cell(values[c]) for c in SUMMARY_COLUMNS]


def column_letter(n: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def quote_title(title: str) -> str:
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

    def __init__(
        self,
        auth: Any,
        session: requests.Session | None = None,
        *,
        pacing: Pacing,
        timeout: float | tuple[float, float] | None = None,
    ) -> None:
        super().__init__(auth, session)
        if session is not None and auth is not None:
            # HTTPClient keeps `auth` only when it builds the session itself; login() and expiry read it.
            self.auth = auth
        self.set_timeout(timeout)
        self.pacing = pacing

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
            log.info("Google Sheets: %s; retrying in %.1f s", describe_error(failure), delay)
            pacing.retries += 1
            pacing.sleep(delay)
            attempt += 1


def describe_error(exc: BaseException) -> str:
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
    # The client's own session (signed by its credentials, or a test's transport); a new one is not needed.
    return PacedHTTPClient(getattr(inner, "auth", None), inner.session, pacing=pacing, timeout=sheets.timeout_s)


# ------------------------------------------------------------------------------------- credentials


def credentials_path(sheets: SheetsConfig) -> Path:
    raw = sheets.credentials or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not raw:
        raise SheetsError(
            "no Google credentials: set sheets.credentials in config.yaml (or GOOGLE_APPLICATION_CREDENTIALS) "
            "to a service-account JSON key; see README, Google Sheets"
        )
    return expand_user(raw)


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
        token = expand_user("~/.config/gspread/authorized_user.json")
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
