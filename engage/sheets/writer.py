"""Write tables of keyed rows into one Google Sheets spreadsheet in a handful of requests (Pusher).

Every write goes to explicit cells (values:batchUpdate), never through `append`: rewriting a range is
idempotent, so a retry after a dropped connection cannot double a row. One push costs two reads (metadata,
key columns), one write for every worksheet's values together, and a structural write only when a
worksheet must be created or grown (checked against Google's cell limit first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from gspread.exceptions import APIError

from engage.sheets.client import (
    RETRY_STATUS,
    Cell,
    PacedHTTPClient,
    SheetsError,
    column_letter,
    describe_error,
    quote_title,
)

CELL_LIMIT = 10_000_000  # Google's limit per spreadsheet, counted over every worksheet's grid
NEAR_CELL_LIMIT = 0.9  # warn above this share
GRID_SLACK_ROWS = 500  # grow a worksheet by at least this many rows, so a live session rarely needs a resize
MAX_ROWS_PER_REQUEST = 5000  # keeps each values request well under Google's payload limit


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
class Table:
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
    return SheetsError(f"{what} failed: {describe_error(exc)}", transient=transient)


def _key_of(row: Sequence[Any], columns: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(int(float(row[c])) for c in columns)
    except (IndexError, TypeError, ValueError):
        return None


class Pusher:
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
            raise SheetsError(f"{what} failed: {describe_error(exc)}", transient=True) from None
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

    def push(self, tables: Sequence[Table], result: ExportResult) -> None:
        for attempt in range(2):
            try:
                self._push(tables, result)
                return
            except _Restart:
                if attempt:
                    raise SheetsError("the spreadsheet changed while exporting; run the export again") from None

    def _push(self, tables: Sequence[Table], result: ExportResult) -> None:
        title, sheets = self.metadata()
        result.title = title
        result.rows_updated = result.rows_appended = 0  # counted again after a restart
        result.warnings = []
        existing = [t for t in tables if t.title in sheets]
        ranges = []
        for t in existing:  # its header row and its key columns, every worksheet in one request
            ranges.append(f"{quote_title(t.title)}!A1:{column_letter(len(t.header))}1")
            last_key_column = column_letter(max(t.key_columns) + 1)
            ranges.append(f"{quote_title(t.title)}!A1:{last_key_column}{max(sheets[t.title].rows, 1)}")
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
            last_column = column_letter(max(len(r) for r in rows))
            batch.append(
                {
                    "range": f"{quote_title(title_)}!A{first}:{last_column}{first + len(rows) - 1}",
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
