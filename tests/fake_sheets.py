"""A fake Google Sheets v4 server on 127.0.0.1 for gspread's real Client, with scriptable failures.

It keeps the cells it is sent per worksheet, enforces grid limits and the 10 million cell limit as Google
does, answers unknown keys with 404 and forbidden ones with 403, and logs every request. Failures are
scripted per request: an HTTP status (429, 500 ...), "drop" (close the connection without an answer, before
applying the request) or "apply_then_drop" (apply it, then close: the answer is lost).

    with FakeSheets() as fake:
        fake.add_spreadsheet("KEY")
        client = fake.client()          # gspread.Client(auth=None, session=<rewrites Google's URLs>)
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import gspread
import requests

CELL_LIMIT = 10_000_000


def column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


@dataclass
class Worksheet:
    title: str
    sheet_id: int
    rows: int = 1000
    columns: int = 26
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)  # (row, column), 1-based

    def table(self) -> list[list[Any]]:
        """The used area as rows (trailing empty cells trimmed), as values.get returns it."""
        if not self.cells:
            return []
        last_row = max(r for r, _ in self.cells)
        out = []
        for r in range(1, last_row + 1):
            cols = [c for (rr, c) in self.cells if rr == r]
            out.append([self.cells.get((r, c), "") for c in range(1, max(cols) + 1)] if cols else [])
        return out


@dataclass
class Spreadsheet:
    key: str
    title: str
    sheets: dict[str, Worksheet] = field(default_factory=dict)
    forbidden: bool = False

    def cells_used(self) -> int:
        return sum(w.rows * w.columns for w in self.sheets.values())


@dataclass
class Failure:
    match: Callable[[str, str], bool]  # (method, path) -> applies
    # HTTP status, "drop", "apply_then_drop", "slow" (answer after `delay` s), "apply_then_slow" (apply, then
    # answer after `delay` s) or "expire_token" (every access token issued so far stops working: a 401)
    action: int | str
    retry_after: str | None = None
    delay: float = 0.0


class _Error(Exception):
    def __init__(self, code: int, message: str, status: str) -> None:
        self.code, self.message, self.status = code, message, status


_RANGE = re.compile(r"^(?:'((?:[^']|'')+)'|([^!']+))!([A-Z]+)(\d*)(?::([A-Z]+)(\d*))?$")


class FakeSheets:
    def __init__(self) -> None:
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.failures: list[Failure] = []
        self.log: list[tuple[str, str, Any]] = []  # (method, path, JSON body or query)
        self.lock = threading.RLock()
        self._next_sheet_id = 100
        # OAuth: with `require_tokens()`, every request needs a token from POST /token (a service account's
        # token_uri pointed here); "expire_token" failures make the issued ones stop working.
        self.valid_tokens: set[str] | None = None
        self.tokens_issued = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # -- set-up

    def __enter__(self) -> FakeSheets:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_spreadsheet(
        self, key: str, title: str = "Engage class", sheets: dict[str, tuple[int, int]] | None = None, **kw: Any
    ) -> Spreadsheet:
        book = Spreadsheet(key, title, **kw)
        for name, (rows, columns) in (sheets or {"Sheet1": (1000, 26)}).items():
            book.sheets[name] = Worksheet(name, self._new_id(), rows, columns)
        self.spreadsheets[key] = book
        return book

    def fail(self, action: int | str, method: str | None = None, path: str = "", times: int = 1, **kw: Any) -> None:
        """Make the next `times` requests whose method matches and whose path contains `path` fail."""
        for _ in range(times):
            self.failures.append(
                Failure(
                    lambda m, p, method=method, path=path: (method is None or m == method) and path in p, action, **kw
                )
            )

    def require_tokens(self) -> None:
        self.valid_tokens = set()

    def client(self) -> gspread.Client:
        return gspread.Client(auth=None, session=LocalSession(self.base_url))

    def values(self, key: str, title: str) -> list[list[Any]]:
        return self.spreadsheets[key].sheets[title].table()

    def requests_made(self, kind: str | None = None) -> list[tuple[str, str, Any]]:
        """Logged requests; kind "read" (GET) or "write" (anything else)."""
        if kind is None:
            return list(self.log)
        return [r for r in self.log if (r[0] == "GET") == (kind == "read")]

    def _new_id(self) -> int:
        self._next_sheet_id += 1
        return self._next_sheet_id

    # -- serving

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if path == "/token":  # a service account's JWT exchanged for an access token
            with self.lock:
                self.tokens_issued += 1
                token = f"token-{self.tokens_issued}"
                if self.valid_tokens is not None:
                    self.valid_tokens.add(token)
            self._send(handler, 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})
            return
        body = json.loads(raw or b"null") if length else None
        with self.lock:
            self.log.append((method, path, body if body is not None else query))
            failure = next((f for f in self.failures if f.match(method, path)), None)
            if failure is not None:
                self.failures.remove(failure)
            if failure is not None and failure.action == "expire_token" and self.valid_tokens is not None:
                self.valid_tokens.clear()
            token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            unauthorised = self.valid_tokens is not None and token not in self.valid_tokens
        if unauthorised:
            message = {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED",
            }
            self._send(
                handler, 401, {"error": message}, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
            )
            return
        if failure is not None and failure.action == "drop":
            handler.close_connection = True
            return
        if failure is not None and failure.action == "slow":
            time.sleep(failure.delay)
        if failure is not None and isinstance(failure.action, int):
            code = failure.action
            status = {408: "DEADLINE_EXCEEDED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(
                code, "UNKNOWN"
            )
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            self._send(handler, code, {"error": {"code": code, "message": f"fake {code}", "status": status}}, headers)
            return
        try:
            with self.lock:
                answer = self._route(method, path, query, body)
        except _Error as exc:
            self._send(handler, exc.code, {"error": {"code": exc.code, "message": exc.message, "status": exc.status}})
            return
        if failure is not None and failure.action == "apply_then_drop":
            handler.close_connection = True
            return
        if failure is not None and failure.action == "apply_then_slow":
            time.sleep(failure.delay)
        try:
            self._send(handler, 200, answer)
        except OSError:  # the client gave up waiting (a read timeout) and closed the connection
            handler.close_connection = True

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def _book(self, key: str) -> Spreadsheet:
        book = self.spreadsheets.get(key)
        if book is None:
            raise _Error(404, "Requested entity was not found.", "NOT_FOUND")
        if book.forbidden:
            raise _Error(403, "The caller does not have permission", "PERMISSION_DENIED")
        return book

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        match = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(.*)", path)
        if not match:
            raise _Error(404, f"unknown path {path}", "NOT_FOUND")
        book = self._book(match.group(1))
        rest = match.group(2)
        if method == "GET" and rest == "":
            return self._metadata(book)
        if method == "GET" and rest == "/values:batchGet":
            return {
                "spreadsheetId": book.key,
                "valueRanges": [self._read(book, r) for r in query.get("ranges", [])],
            }
        if method == "POST" and rest == "/values:batchUpdate":
            if body.get("valueInputOption") not in ("RAW", "USER_ENTERED"):
                raise _Error(400, "valueInputOption is required", "INVALID_ARGUMENT")
            # Google checks every range before writing any: a bad request changes nothing.
            plans = [self._plan_write(book, d["range"], d["values"]) for d in body.get("data", [])]
            for sheet, row0, col0, values in plans:
                for i, row in enumerate(values):
                    for j, value in enumerate(row):
                        if value in ("", None):
                            sheet.cells.pop((row0 + i, col0 + j), None)
                        else:
                            sheet.cells[(row0 + i, col0 + j)] = value
            return {
                "spreadsheetId": book.key,
                "totalUpdatedRows": sum(len(p[3]) for p in plans),
                "responses": [{"updatedRange": d["range"]} for d in body.get("data", [])],
            }
        if method == "POST" and rest == ":batchUpdate":
            return self._batch_update(book, body.get("requests", []))
        raise _Error(404, f"unknown method {method} {rest}", "NOT_FOUND")

    def _metadata(self, book: Spreadsheet) -> Any:
        return {
            "spreadsheetId": book.key,
            "properties": {"title": book.title, "locale": "en_GB", "timeZone": "Etc/GMT"},
            "sheets": [
                {
                    "properties": {
                        "sheetId": w.sheet_id,
                        "title": w.title,
                        "index": i,
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": w.rows, "columnCount": w.columns},
                    }
                }
                for i, w in enumerate(book.sheets.values())
            ],
        }

    def _parse(self, book: Spreadsheet, a1: str) -> tuple[Worksheet, int, int, int | None, int | None]:
        match = _RANGE.match(a1)
        if not match:
            raise _Error(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
        title = (match.group(1) or "").replace("''", "'") or match.group(2)
        sheet = book.sheets.get(title)
        if sheet is None:
            raise _Error(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
        col0, row0 = column_number(match.group(3)), int(match.group(4) or 1)
        col1 = column_number(match.group(5)) if match.group(5) else None
        row1 = int(match.group(6)) if match.group(6) else None
        return sheet, row0, col0, row1, col1

    def _read(self, book: Spreadsheet, a1: str) -> Any:
        sheet, row0, col0, row1, col1 = self._parse(book, a1)
        table = sheet.table()
        rows = []
        for r in range(row0, min(row1 or len(table), len(table)) + 1):
            row = table[r - 1][col0 - 1 : col1] if r - 1 < len(table) else []
            while row and row[-1] == "":
                row = row[:-1]
            rows.append(row)
        while rows and not rows[-1]:
            rows.pop()
        return (
            {"range": a1, "majorDimension": "ROWS", "values": rows} if rows else {"range": a1, "majorDimension": "ROWS"}
        )

    def _plan_write(self, book: Spreadsheet, a1: str, values: list[list[Any]]) -> tuple[Worksheet, int, int, Any]:
        sheet, row0, col0, _, _ = self._parse(book, a1)
        last_row = row0 + len(values) - 1
        last_col = col0 + max((len(r) for r in values), default=1) - 1
        if last_row > sheet.rows or last_col > sheet.columns:
            raise _Error(
                400,
                f"Range ({sheet.title}!{a1.split('!')[-1]}) exceeds grid limits. Max rows: {sheet.rows}, "
                f"max columns: {sheet.columns}",
                "INVALID_ARGUMENT",
            )
        return sheet, row0, col0, values

    def _batch_update(self, book: Spreadsheet, requests_: list[dict[str, Any]]) -> Any:
        # Validate on a copy first: a batchUpdate is all or nothing.
        sizes = {w.title: (w.rows, w.columns) for w in book.sheets.values()}
        added: list[Worksheet] = []
        for request in requests_:
            if "addSheet" in request:
                props = request["addSheet"]["properties"]
                grid = props.get("gridProperties", {})
                if props["title"] in sizes:
                    raise _Error(
                        400,
                        f'Invalid requests[0].addSheet: A sheet with the name "{props["title"]}" already exists. '
                        "Please enter another name.",
                        "INVALID_ARGUMENT",
                    )
                sizes[props["title"]] = (grid.get("rowCount", 1000), grid.get("columnCount", 26))
                added.append(Worksheet(props["title"], self._new_id(), *sizes[props["title"]]))
            elif "updateSheetProperties" in request:
                props = request["updateSheetProperties"]["properties"]
                sheet = next((w for w in book.sheets.values() if w.sheet_id == props["sheetId"]), None)
                if sheet is None:
                    raise _Error(400, f"No grid with id: {props['sheetId']}", "INVALID_ARGUMENT")
                grid = props.get("gridProperties", {})
                rows, columns = sizes[sheet.title]
                sizes[sheet.title] = (grid.get("rowCount", rows), grid.get("columnCount", columns))
            else:
                raise _Error(400, f"fake does not support {sorted(request)}", "INVALID_ARGUMENT")
        if sum(r * c for r, c in sizes.values()) > CELL_LIMIT:
            raise _Error(
                400,
                "This action would increase the number of cells in the workbook above the limit of 10000000 cells.",
                "INVALID_ARGUMENT",
            )
        for sheet in added:
            book.sheets[sheet.title] = sheet
        for sheet in book.sheets.values():
            sheet.rows, sheet.columns = sizes[sheet.title]
        return {"spreadsheetId": book.key, "replies": [{} for _ in requests_]}


class LocalSession(requests.Session):
    """Sends gspread's requests for Google's hosts to the fake server (gspread imports its URLs by name)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        for prefix in ("https://sheets.googleapis.com", "https://www.googleapis.com"):
            if url.startswith(prefix):
                url = self.base_url + url[len(prefix) :]
        return super().request(method, url, *args, **kwargs)
