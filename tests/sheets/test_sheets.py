"""Google Sheets export and mirror through gspread's real Client against a fake Sheets v4 server on loopback.

Sessions are written through the real Store (SQLite files, migrations run); the fake keeps the cells it is
sent, so every test compares the sheet with the database: nothing missing, nothing doubled.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import gspread
import pytest
from cli_main import one_line_error, run_main
from clips import make_clip
from fake_sheets import FakeSheets, LocalSession
from minute_samples import ATTENTION_COLUMNS, attention_fields
from typer.testing import CliRunner

from engage.cli import app
from engage.config import SheetsConfig, load_config
from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.sheets import client as sheets
from engage.sheets import mirror as sheets_mirror
from engage.sheets import push
from engage.sheets.outbox import CONSUMER, outbox_summary, subscribe_if_configured
from engage.store.database import Store

KEY = "1FakeSpreadsheetKey_0123456789"
MINUTES_WS = "engage minutes"
SUMMARY_WS = "engage sessions"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REAL_OPEN_CLIENT = sheets.open_client


def use_client(monkeypatch, open_client) -> None:
    """Point every place that opens a gspread client (an export, the background mirror) at `open_client`."""
    monkeypatch.setattr(push, "open_client", open_client)
    monkeypatch.setattr(sheets_mirror, "open_client", open_client)


@pytest.fixture()
def fake():
    with FakeSheets() as server:
        server.add_spreadsheet(KEY)
        yield server


@pytest.fixture()
def store(tmp_path, engage_home):
    with Store(tmp_path / "engage.db") as opened:
        opened.subscribe(CONSUMER)  # as every writing command does with a spreadsheet configured
        yield opened


def minute(k: int, engagement: float = 0.5, suppressed: bool = False) -> MinuteMetrics:
    shares = {e: (0.4 if e == "neutral" else 0.1) for e in EMOTIONS}
    return MinuteMetrics(
        minute=k,
        start_s=60.0 * k,
        end_s=60.0 * k + 59.5,
        frames_sampled=60,
        frames_expected=60,
        faces_total=0 if suppressed else 90,
        faces_mean=0.0 if suppressed else 1.5,
        faces_max=0 if suppressed else 2,
        suppressed=suppressed,
        emotion_mean=None if suppressed else shares,
        emotion_top_share=None if suppressed else shares,
        dominant_emotion=None if suppressed else "neutral",
        valence=None if suppressed else 0.05,
        engagement=None if suppressed else engagement,
        engagement_high=None if suppressed else 0.2,
        engagement_nominal=None if suppressed else 0.7,
        engagement_low=None if suppressed else 0.1,
        engagement_low90=None if suppressed else engagement - 0.08,
        engagement_high90=None if suppressed else engagement + 0.07,
        emotion_corrected=None if suppressed else shares,
        emotion_corrected_low90=None if suppressed else {e: v / 2 for e, v in shares.items()},
        emotion_corrected_high90=None if suppressed else {e: v + 0.2 for e, v in shares.items()},
        **({} if suppressed else attention_fields(k)),
    )


def seed(store: Store, name: str, minutes: int, finish: bool = True, started_at: datetime = START) -> int:
    sid = store.create_session(name, f"/videos/{name}.mp4", "video", 1.0, "model@1", {}, started_at=started_at)
    for k in range(minutes):
        store.add_minute(sid, minute(k, engagement=0.3 + (k % 7) / 10, suppressed=k == 2))
    if finish:
        store.finish_session(sid, "completed", media_duration_s=60.0 * minutes)
    return sid


def config(**kw) -> SheetsConfig:
    return SheetsConfig(spreadsheet=KEY, **kw)


def sheet_rows(fake: FakeSheets, title: str = MINUTES_WS) -> dict[tuple[int, int], list]:
    """The minutes worksheet by (session_id, minute); fails on a doubled row."""
    table = fake.values(KEY, title)
    assert table[0][:4] == ["session_id", "session", "session_started", "minute"]
    rows: dict[tuple[int, int], list] = {}
    for row in table[1:]:
        key = (row[0], row[3])
        assert key not in rows, f"row {key} doubled"
        rows[key] = row
    return rows


def assert_sheet_matches_db(fake: FakeSheets, store: Store, session_ids: list[int]) -> None:
    rows = sheet_rows(fake)
    expected = {}
    for sid in session_ids:
        info = store.get_session(sid)
        for m in store.minutes(sid):
            expected[(sid, m.minute + 1)] = (info, m)
    assert set(rows) == set(expected)
    header = fake.values(KEY, MINUTES_WS)[0]
    for key, (info, m) in expected.items():
        row = dict(zip(header, rows[key] + [""] * (len(header) - len(rows[key])), strict=True))
        assert row["session"] == info.name
        assert row["session_started"] == info.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["faces_total"] == m.faces_total and isinstance(row["faces_total"], int)
        assert row["suppressed"] is m.suppressed
        assert row["engagement"] == ("" if m.engagement is None else pytest.approx(m.engagement))
        assert row["p_neutral"] == ("" if m.emotion_mean is None else pytest.approx(m.emotion_mean["neutral"]))
    summary = {row[0]: row for row in fake.values(KEY, SUMMARY_WS)[1:]}
    assert len(summary) == len(fake.values(KEY, SUMMARY_WS)) - 1, "summary row doubled"
    for sid in session_ids:
        info = store.get_session(sid)
        assert summary[sid][1:4] == [info.name, info.kind, info.status]
        assert summary[sid][7] == info.minutes


def values_requests(fake: FakeSheets) -> list:
    return [body for method, path, body in fake.log if path.endswith("/values:batchUpdate")]


# ----------------------------------------------------------------------------------------- outbox


def test_the_store_queues_every_write_in_the_same_transaction(store):
    sid = store.create_session("s", "a.mp4", "video", 1.0, "m", {})
    store.add_minute(sid, minute(0))
    store.add_minute(sid, minute(0, engagement=0.9))  # rewritten: queued again, sent once
    assert [(i.session_id, i.minute) for i in store.outbox_pending(CONSUMER)] == [(sid, 0), (sid, 0)]
    with pytest.raises(EngageError):
        store.add_minute(sid + 1, minute(0))  # no such session: neither the minute nor a mark is written
    assert len(store.outbox_pending(CONSUMER)) == 2
    store.finish_session(sid, "completed")
    assert store.outbox_pending(CONSUMER)[-1].minute is None  # the summary row (status) changed

    crashed = store.create_session("crashed", "b.mp4", "video", 1.0, "m", {})
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"UPDATE sessions SET pid = 999999999 WHERE id = {crashed}")
    assert store.mark_interrupted() == 1
    assert (crashed, None) in [(i.session_id, i.minute) for i in store.outbox_pending(CONSUMER)]

    store.delete_session(sid)  # its queue goes with it
    assert {i.session_id for i in store.outbox_pending(CONSUMER)} == {crashed}


def test_outbox_and_export_on_postgresql(fake):
    import postgres

    reason = postgres.why_not()
    if reason:
        pytest.skip(reason)
    with postgres.postgres_server() as base, Store(postgres.new_database(base)) as pg:
        assert pg.current_revision() == pg.head_revision()
        pg.subscribe(CONSUMER)
        a = seed(pg, "Lecture on PostgreSQL", 3)
        assert outbox_summary(pg)["pending_minutes"] == 3
        push.send_pending(pg, config(), client=fake.client())
        assert_sheet_matches_db(fake, pg, [a])
        assert pg.outbox_pending(CONSUMER) == []
        pg.add_minute(a, minute(9))
        pg.downgrade("d4e8a2c61f35")  # the generic outbox goes down to the Sheets one, keeping Sheets' rows
        pg.downgrade("7b3e9d14a2f6")  # and the revisions further down cleanly on PostgreSQL too
        pg.upgrade()


# ----------------------------------------------------------------------------------------- export


def test_first_export_layout_and_request_count(fake, store):
    a = seed(store, "Lecture 1", 4)
    b = seed(store, "Lecture 2", 3, started_at=datetime(2026, 11, 3, 14, 30, tzinfo=UTC))
    result = push.export_sessions(store, [store.get_session(a), store.get_session(b)], config(), client=fake.client())

    assert_sheet_matches_db(fake, store, [a, b])
    table = fake.values(KEY, MINUTES_WS)
    assert table[0] == list(sheets.MINUTE_COLUMNS)
    first = dict(zip(table[0], table[1], strict=True))
    # Numbers as numbers, ISO 8601 UTC timestamps, 1-based minutes as `engage show` prints them.
    assert first["minute"] == 1 and first["minute_start"] == "2026-11-02T09:00:00Z"
    assert first["minute_end"] == "2026-11-02T09:00:59Z" and first["media_end_s"] == 59.5
    assert isinstance(first["engagement"], float) and first["dominant_emotion"] == "neutral"
    # The 90% intervals and corrected shares come after the first columns, then head pose and attention: numbers.
    assert sheets.MINUTE_COLUMNS.index("engagement_low90") > sheets.MINUTE_COLUMNS.index("top_neutral")
    assert (first["engagement_low90"], first["corrected_neutral"], first["corrected_neutral_high90"]) == pytest.approx(
        (0.22, 0.4, 0.6)
    )
    assert sheets.MINUTE_COLUMNS[-6:] == ATTENTION_COLUMNS
    assert first["people"] == 3 and isinstance(first["people"], int)
    assert [first[c] for c in ATTENTION_COLUMNS[1:]] == pytest.approx(
        [attention_fields(0)[c] for c in ATTENTION_COLUMNS[1:]]
    )
    third = dict(zip(table[0], table[3] + [""] * (len(table[0]) - len(table[3])), strict=True))
    assert third["suppressed"] is True and third["engagement"] == "" and third["p_happy"] == ""
    summary = fake.values(KEY, SUMMARY_WS)
    assert summary[0] == list(sheets.SUMMARY_COLUMNS)
    assert summary[2][:6] == [b, "Lecture 2", "video", "completed", "2026-11-03T14:30:00Z", summary[2][5]]
    assert summary[2][9] == pytest.approx((0.3 + 0.4) / 2)  # mean over the unsuppressed minutes, face-weighted

    # metadata + structure (two worksheets added in one request) + one values request for both worksheets
    assert result.requests == {"read": 1, "write": 2}
    assert [p for _, p, _ in fake.log if not p.endswith(KEY)] == [
        f"/v4/spreadsheets/{KEY}:batchUpdate",
        f"/v4/spreadsheets/{KEY}/values:batchUpdate",
    ]
    assert values_requests(fake)[0]["valueInputOption"] == "RAW"
    assert (result.rows_appended, result.rows_updated, result.cleared) == (7 + 2, 0, 7 + 2)
    assert store.outbox_pending(CONSUMER) == []


def test_a_spreadsheet_from_before_head_pose_gains_its_columns_and_keeps_its_rows(fake, store):
    a = seed(store, "Lecture 1", 3)
    push.export_sessions(store, [store.get_session(a)], config(), client=fake.client())
    # What the release before head pose left: its header and rows end at corrected_neutral_high90, its grid as wide.
    old_width = sheets.MINUTE_COLUMNS.index("people")
    sheet = fake.spreadsheets[KEY].sheets[MINUTES_WS]
    sheet.cells = {(r, c): v for (r, c), v in sheet.cells.items() if c <= old_width}
    sheet.columns = old_width
    assert fake.values(KEY, MINUTES_WS)[0][-1] == "corrected_neutral_high90"

    b = seed(store, "Lecture 2", 2)
    push.export_sessions(store, [store.get_session(b)], config(), client=fake.client())
    table = fake.values(KEY, MINUTES_WS)
    assert table[0] == list(sheets.MINUTE_COLUMNS) and sheet.columns >= len(sheets.MINUTE_COLUMNS)
    assert_sheet_matches_db(fake, store, [a, b])  # nothing lost, nothing doubled
    rows = sheet_rows(fake)

    def row(key: tuple[int, int]) -> dict:
        return dict(zip(table[0], rows[key] + [""] * (len(table[0]) - len(rows[key])), strict=True))

    earlier, new = row((a, 1)), row((b, 2))
    assert earlier["corrected_neutral"] == pytest.approx(0.4) and all(earlier[c] == "" for c in ATTENTION_COLUMNS)
    assert new["people"] == 4 and new["attention_facing"] == pytest.approx(attention_fields(1)["attention_facing"])

    push.export_sessions(store, [store.get_session(a)], config(), client=fake.client())  # exported again: filled in
    assert sheet_rows(fake)[(a, 1)][sheets.MINUTE_COLUMNS.index("people")] == 3
    assert_sheet_matches_db(fake, store, [a, b])


def test_reexport_updates_in_place_without_duplicates(fake, store):
    a = seed(store, "Lecture 1", 3)
    push.export_sessions(store, [store.get_session(a)], config(), client=fake.client())
    store.add_minute(a, minute(1, engagement=0.99))  # a corrected minute replaces the stored one
    fake.log.clear()
    result = push.export_sessions(store, [store.get_session(a)], config(), client=fake.client())

    assert_sheet_matches_db(fake, store, [a])
    assert sheet_rows(fake)[(a, 2)][sheets.MINUTE_COLUMNS.index("engagement")] == pytest.approx(0.99)
    assert len(fake.values(KEY, MINUTES_WS)) == 1 + 3
    assert (result.rows_appended, result.rows_updated) == (0, 3 + 1)
    assert result.requests == {"read": 2, "write": 1}  # metadata, key columns, values: no structure change

    # Rows a user moved are found by their key, wherever they are.
    sheet = fake.spreadsheets[KEY].sheets[MINUTES_WS]
    row2 = {c: v for (r, c), v in sheet.cells.items() if r == 2}
    row4 = {c: v for (r, c), v in sheet.cells.items() if r == 4}
    sheet.cells.update({(2, c): v for c, v in row4.items()} | {(4, c): v for c, v in row2.items()})
    push.export_sessions(store, [store.get_session(a)], config(), client=fake.client())
    assert_sheet_matches_db(fake, store, [a])


def test_a_growing_session_appends_only_its_new_minutes(fake, store):
    other = seed(store, "Earlier class", 2)
    live = seed(store, "Live class", 2, finish=False)
    push.send_pending(store, config(), client=fake.client())
    assert_sheet_matches_db(fake, store, [other, live])

    for k in (2, 3):
        store.add_minute(live, minute(k, engagement=0.8))
    fake.log.clear()
    result = push.send_pending(store, config(), client=fake.client())

    (body,) = values_requests(fake)
    sent = [row for block in body["data"] for row in block["values"]]
    minute_rows = [row for row in sent if len(row) == len(sheets.MINUTE_COLUMNS)]
    assert [(row[0], row[3]) for row in minute_rows] == [(live, 3), (live, 4)]  # only the new minutes
    last = sheets.column_letter(len(sheets.MINUTE_COLUMNS))  # BK: 63 columns
    assert [b["range"] for b in body["data"]] == [f"'{MINUTES_WS}'!A6:{last}7", f"'{SUMMARY_WS}'!A3:L3"]
    assert result.rows_appended == 2 and result.rows_updated == 1  # and the session's summary row
    assert_sheet_matches_db(fake, store, [other, live])

    store.finish_session(live, "completed", media_duration_s=240.0)
    push.send_pending(store, config(), client=fake.client())
    assert fake.values(KEY, SUMMARY_WS)[2][3] == "completed"
    assert store.outbox_pending(CONSUMER) == []


def test_429_and_500_are_backed_off_exponentially(fake, store):
    a = seed(store, "Lecture 1", 3)
    fake.fail(500, "GET", f"/v4/spreadsheets/{KEY}")
    fake.fail(429, "POST", "/values:batchUpdate", times=2)
    fake.fail(429, "POST", ":batchUpdate", retry_after="7")
    sleeps: list[float] = []
    push.export_sessions(store, [store.get_session(a)], config(), client=fake.client(), sleep=sleeps.append)

    assert_sheet_matches_db(fake, store, [a])
    # metadata 500: 1 s; structure 429 with Retry-After 7: 7 s; values 429 twice: 1 s then 2 s (+ <=10% jitter)
    assert len(sleeps) == 4
    assert sleeps[0] == pytest.approx(1, rel=0.11) and sleeps[1] == 7
    assert sleeps[2] == pytest.approx(1, rel=0.11) and sleeps[3] == pytest.approx(2, rel=0.11)


def test_dropped_connections_mid_export_are_retried_without_losing_or_doubling(fake, store):
    a = seed(store, "Lecture 1", 5)
    fake.fail("apply_then_drop", "POST", "/values:batchUpdate")  # applied, but the answer is lost
    fake.fail("drop", "POST", "/values:batchUpdate")  # lost before it was applied
    fake.fail("apply_then_drop", "POST", ":batchUpdate")  # worksheets added, answer lost
    sleeps: list[float] = []
    result = push.export_sessions(store, [store.get_session(a)], config(), client=fake.client(), sleep=sleeps.append)

    assert_sheet_matches_db(fake, store, [a])
    assert len(fake.values(KEY, MINUTES_WS)) == 1 + 5
    assert result.retries == 3 and len(sleeps) == 3
    assert store.outbox_pending(CONSUMER) == []


def test_google_down_keeps_minutes_queued_until_the_next_export(fake, store, tmp_path):
    a = seed(store, "Lecture 1", 3)
    fake.fail(503, times=10)
    with pytest.raises(sheets.SheetsError, match=r"Google returned 503.*3 minute\(s\) stay queued") as caught:
        push.send_pending(store, config(max_retries=2), client=fake.client(), sleep=lambda s: None)
    assert caught.value.transient
    assert len(fake.log) == 3  # one try and two retries, then give up
    (status,) = store.outbox_status(CONSUMER)
    assert (status.session_id, status.minutes, status.summary, status.attempts) == (a, 3, True, 1)
    assert "503" in status.last_error

    # A connection refused (nothing listening) keeps them queued too; a new minute joins the queue.
    dead = gspread.Client(auth=None, session=LocalSession("http://127.0.0.1:9"))
    store.add_minute(a, minute(3))
    with pytest.raises(sheets.SheetsError, match="cannot reach Google Sheets"):
        push.send_pending(store, config(max_retries=1), client=dead, sleep=lambda s: None)
    assert store.outbox_status(CONSUMER)[0].minutes == 4

    fake.failures.clear()
    fake.log.clear()
    result = push.send_pending(store, config(), client=fake.client())
    assert_sheet_matches_db(fake, store, [a])
    assert store.outbox_pending(CONSUMER) == [] and result.cleared >= 5


def test_a_crash_between_write_and_clear_sends_again_without_doubling(fake, store, monkeypatch):
    a = seed(store, "Lecture 1", 3)

    def crash(*_args):
        raise RuntimeError("killed")

    monkeypatch.setattr(store, "outbox_done", crash)
    with pytest.raises(RuntimeError):
        push.send_pending(store, config(), client=fake.client())
    monkeypatch.undo()
    assert len(store.outbox_pending(CONSUMER)) == 3 + 1  # the sheet has them, but the outbox was not cleared
    push.send_pending(store, config(), client=fake.client())
    assert_sheet_matches_db(fake, store, [a])
    assert store.outbox_pending(CONSUMER) == []


def test_a_four_hour_session_takes_a_handful_of_requests(fake, store):
    sid = seed(store, "Four hours", 240)
    result = push.send_pending(store, config(), client=fake.client())
    assert result.requests == {"read": 1, "write": 2}
    assert_sheet_matches_db(fake, store, [sid])
    fake.log.clear()
    result = push.export_sessions(store, [store.get_session(sid)], config(), client=fake.client())
    assert result.requests == {"read": 2, "write": 1} and len(fake.log) == 3
    assert len(fake.values(KEY, MINUTES_WS)) == 1 + 240


def test_two_writers_at_once_do_not_overwrite_each_others_new_rows(fake, store):
    import threading

    ids = [seed(store, f"Room {n}", 30) for n in range(4)]
    errors: list[BaseException] = []

    def export(sid: int) -> None:
        try:
            push.export_sessions(store, [store.get_session(sid)], config(), client=fake.client())
        except BaseException as exc:  # noqa: B036 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=export, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert_sheet_matches_db(fake, store, ids)


def test_per_session_layout_gets_a_worksheet_each(fake, store):
    a = seed(store, "Maths: week 1", 2)
    b = seed(store, "Physics", 2)
    result = push.send_pending(store, config(layout="per_session"), client=fake.client())
    assert set(fake.spreadsheets[KEY].sheets) == {"Sheet1", f"Maths  week 1 #{a}", f"Physics #{b}", SUMMARY_WS}
    assert len(fake.values(KEY, f"Physics #{b}")) == 3
    assert result.requests == {"read": 1, "write": 2}


def test_rate_limiter_keeps_to_the_quota():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = sheets.RateLimiter(3, clock=lambda: now[0], sleep=sleep)
    for t in (0.0, 1.0, 2.0):
        now[0] = t
        assert limiter.acquire() == 0
    now[0] = 10.0
    assert limiter.acquire() == pytest.approx(50.0)  # the 4th waits until the 1st is a minute old
    assert slept == [pytest.approx(50.0)]


# ------------------------------------------------------------------------------------------ errors


def test_wrong_key_no_access_and_a_worksheet_that_is_not_ours(fake, store):
    a = seed(store, "Lecture 1", 2)
    with pytest.raises(sheets.SheetsError, match="no spreadsheet with key 1NoSuchSpreadsheet0000"):
        push.export_sessions(
            store, [store.get_session(a)], config(), spreadsheet="1NoSuchSpreadsheet0000", client=fake.client()
        )
    fake.add_spreadsheet("1SomeoneElses000000", forbidden=True)
    with pytest.raises(sheets.SheetsError, match="no access to spreadsheet 1SomeoneElses000000: share it"):
        push.export_sessions(
            store,
            [store.get_session(a)],
            config(),
            spreadsheet="https://docs.google.com/spreadsheets/d/1SomeoneElses000000/edit#gid=0",
            client=fake.client(),
        )
    with pytest.raises(sheets.SheetsError, match="not a spreadsheet key or URL"):
        push.export_sessions(store, [], config(), spreadsheet="my sheet", client=fake.client())

    fake.spreadsheets[KEY].sheets["Budget"] = fake.spreadsheets[KEY].sheets.pop("Sheet1")
    fake.spreadsheets[KEY].sheets["Budget"].title = "Budget"
    fake.spreadsheets[KEY].sheets["Budget"].cells[(1, 1)] = "Item"
    with pytest.raises(sheets.SheetsError, match="worksheet 'Budget' holds something else"):
        push.export_sessions(store, [store.get_session(a)], config(worksheet="Budget"), client=fake.client())
    assert fake.values(KEY, "Budget") == [["Item"]]
    assert len(store.outbox_pending(CONSUMER)) == 2 + 1  # still queued


def test_a_spreadsheet_near_the_cell_limit(fake, store):
    fake.add_spreadsheet("1AlmostFull00000000", sheets={"Data": (999_000, 10)})  # 9.99 million cells
    seed(store, "Lecture 1", 2)
    with pytest.raises(sheets.SheetsError, match=r"10 million cell limit \(9,990,000 cells.*stay queued"):
        push.send_pending(store, SheetsConfig(spreadsheet="1AlmostFull00000000"), client=fake.client())
    assert [p for m, p, _ in fake.log if m == "POST"] == []  # nothing written
    assert len(store.outbox_pending(CONSUMER)) == 3

    fake.add_spreadsheet("1Roomy000000000000", sheets={"Data": (900_000, 10)})
    result = push.send_pending(store, SheetsConfig(spreadsheet="1Roomy000000000000"), client=fake.client())
    assert any("of Google's 10,000,000 cells" in w for w in result.warnings)


def test_bad_credentials_files(tmp_path, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(sheets.SheetsError, match="no Google credentials"):
        sheets.open_client(config())
    with pytest.raises(sheets.SheetsError, match="credentials file not found"):
        sheets.open_client(config(credentials=str(tmp_path / "missing.json")))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(broken))
    with pytest.raises(sheets.SheetsError, match="not valid JSON"):
        sheets.open_client(config())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"type": "external_account"}))
    with pytest.raises(sheets.SheetsError, match="not a service-account key"):
        sheets.open_client(config(credentials=str(other)))
    bad_key = tmp_path / "bad_key.json"
    bad_key.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "engage@example.iam.gserviceaccount.com",
                "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    with pytest.raises(sheets.SheetsError, match="bad service-account key") as caught:
        sheets.open_client(config(credentials=str(bad_key)))
    assert "not a key" not in str(caught.value)  # the key itself is never echoed


def test_a_real_service_account_key_builds_a_paced_client(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    key = tmp_path / "sa.json"
    key.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "engage@example.iam.gserviceaccount.com",
                "private_key": pem,
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    client = sheets.open_client(config(credentials=str(key)))
    assert client.http_client.auth.service_account_email == "engage@example.iam.gserviceaccount.com"
    assert client.http_client.auth.scopes == ["https://www.googleapis.com/auth/spreadsheets"]
    paced = sheets.paced_http(client, config(), sheets.Pacing.from_config(config()))
    assert paced.session is client.http_client.session and paced.auth is client.http_client.auth  # signs requests
    assert paced.timeout == 30.0


def test_paced_client_is_built_by_gspreads_public_constructor(fake):
    """gspread.Client(http_client=...) builds the paced client itself: it paces and retries real calls."""
    import functools

    slept: list[float] = []
    pacing = sheets.Pacing.from_config(config(), sleep=slept.append)
    factory = functools.partial(sheets.PacedHTTPClient, pacing=pacing, timeout=12.0)
    client = gspread.Client(auth=None, session=LocalSession(fake.base_url), http_client=factory)
    assert isinstance(client.http_client, sheets.PacedHTTPClient) and client.http_client.timeout == 12.0
    fake.fail(503, method="GET")
    assert client.open_by_key(KEY).id == KEY
    assert pacing.retries == 1 and pacing.counts["read"] == 2 and len(slept) == 1


# ------------------------------------------------------------------------------------------ mirror


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_mirror_sends_minutes_as_they_are_committed(fake, store):
    cfg = load_config(overrides={"sheets": {"spreadsheet": KEY, "mirror": True, "interval_s": 60.0}})
    mirror = sheets_mirror.mirror_from_config(cfg, store, client=fake.client())
    assert mirror is not None
    mirror.start()
    sid = seed(store, "Live", 2, finish=False)
    mirror.notify(sid)
    wait_for(lambda: store.outbox_pending(CONSUMER) == [])
    store.add_minute(sid, minute(2))
    mirror.notify(sid)
    wait_for(lambda: store.outbox_pending(CONSUMER) == [])
    store.finish_session(sid, "completed")
    report = mirror.stop(timeout=10)
    assert (report.pending_minutes, report.pending_sessions, report.last_error) == (0, 0, None)
    assert_sheet_matches_db(fake, store, [sid])
    assert fake.values(KEY, SUMMARY_WS)[1][3] == "completed"

    off = load_config(overrides={"sheets": {"spreadsheet": KEY, "mirror": False}})
    assert sheets_mirror.mirror_from_config(off, store) is None
    assert sheets_mirror.mirror_from_config(load_config(overrides={"sheets": {"mirror": True}}), store) is None


def test_mirror_never_blocks_or_raises_when_sheets_is_down(fake, store):
    events: list[str] = []
    fake.fail(500, times=1000)
    mirror = sheets_mirror.SheetsMirror(
        config(interval_s=1.0, max_retries=1), store, client=fake.client(), on_event=events.append
    )
    mirror.start()
    sid = seed(store, "Live", 2, finish=False)
    started = time.perf_counter()
    for k in range(2, 30):
        store.add_minute(sid, minute(k))
        mirror.notify(sid)
    assert time.perf_counter() - started < 5  # commits and notify() do not wait for Google
    wait_for(lambda: mirror.failures >= 1)
    begun = time.perf_counter()
    report = mirror.stop(timeout=5)
    assert time.perf_counter() - begun < 5  # back-off sleeps end at once on stop
    assert report.pending_minutes == 30 and "Google returned 500" in report.last_error
    assert len([e for e in events if "500" in e]) == 1  # reported once, not on every retry
    fake.failures.clear()
    push.send_pending(store, config(), client=fake.client())
    assert_sheet_matches_db(fake, store, [sid])


# --------------------------------------------------------------------------------------------- CLI


runner = CliRunner()


@pytest.fixture()
def cli_env(fake, monkeypatch, engage_home, tmp_path):
    """The CLI with sheets configured through ENGAGE_* and its client pointed at the fake server."""
    monkeypatch.setenv("ENGAGE_SHEETS__SPREADSHEET", KEY)
    use_client(monkeypatch, lambda *_a, **_k: fake.client())
    return tmp_path / "cli.db"


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_writing_commands_queue_for_sheets_once_a_spreadsheet_is_configured(cli_env, monkeypatch):
    invoke("sessions", "--db", str(cli_env))  # reading subscribes nothing (and creates no database)
    assert not cli_env.exists()
    assert invoke("purge", "--days", "3650", "--db", str(cli_env)).exit_code == 0  # a command that writes
    with Store(cli_env) as s:
        assert s.subscribers() == [CONSUMER]
        seed(s, "Lecture 1", 2)
        assert len(s.outbox_pending(CONSUMER)) == 2 + 1

    monkeypatch.delenv("ENGAGE_SHEETS__SPREADSHEET")
    plain = cli_env.with_name("no-sheets.db")
    assert invoke("purge", "--days", "3650", "--db", str(plain)).exit_code == 0
    with Store(plain) as s:
        assert s.subscribers() == []
        seed(s, "Lecture 1", 2)
        assert s.outbox_pending(CONSUMER) == []  # nothing piles up for a spreadsheet nobody set
        subscribe_if_configured(s, SheetsConfig())
        assert s.subscribers() == []
        subscribe_if_configured(s, config())
        assert s.subscribers() == [CONSUMER]


def test_cli_export_sheets_status_and_file_export_side_by_side(fake, cli_env):
    with Store(cli_env) as s:
        s.subscribe(CONSUMER)
        a, b = seed(s, "Lecture 1", 3), seed(s, "Lecture 2", 2)

    status = json.loads(invoke("export", "sheets", "--status", "--json", "--db", str(cli_env)).stdout)
    assert (status["spreadsheet"], status["pending_minutes"], status["pending_sessions"]) == (KEY, 5, 2)
    shown = invoke("export", "sheets", "--status", "--db", str(cli_env))
    assert "Lecture" in shown.stdout and "queued" in shown.stdout and "attempts" in shown.stdout

    result = invoke("export", "sheets", str(a), "Lecture 2", "--db", str(cli_env), "--json")
    assert result.exit_code == 0, result.output
    exported = json.loads(result.stdout)
    assert exported["sessions"] == [a, b] and exported["requests"] == {"read": 1, "write": 2}
    with Store(cli_env) as s:
        assert_sheet_matches_db(fake, s, [a, b])
    assert "nothing queued" in invoke("export", "sheets", "--status", "--db", str(cli_env)).stdout
    again = invoke("export", "sheets", str(a), "--db", str(cli_env))
    assert "0 row(s) added, 4 updated" in again.stdout

    # The file export keeps its old form, and `engage export file` names it.
    assert json.loads(invoke("export", str(a), "--format", "json", "--db", str(cli_env)).stdout)["name"] == "Lecture 1"
    assert "session_id" in invoke("export", "file", str(b), "--db", str(cli_env)).stdout
    helped = invoke("export", "--help").stdout
    assert "sheets" in helped and "--format" in helped


def test_cli_errors_are_one_line(fake, cli_env, monkeypatch):
    with Store(cli_env) as s:
        seed(s, "Lecture 1", 2)
    # Through engage.cli.main, the part that makes an error one line (the Typer app alone raises it).
    line = one_line_error(
        run_main("export", "sheets", "1", "--spreadsheet", "1Missing00000000000", "--db", str(cli_env))
    )
    assert line.startswith("error: no spreadsheet with key 1Missing00000000000")
    use_client(monkeypatch, REAL_OPEN_CLIENT)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    line = one_line_error(run_main("export", "sheets", "1", "--db", str(cli_env)))
    assert line == "error: Google credentials file not found: /nonexistent/key.json (2 minute(s) stay queued)"


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("sheets-clips") / "class.mp4", 70, fps=2, size=(320, 240), faces=1)


@pytest.mark.parametrize("google", ["up", "500", "refused"])
def test_analyze_mirrors_the_session_and_never_fails_for_sheets(fake, cli_env, monkeypatch, short_clip, google):
    monkeypatch.setenv("ENGAGE_SHEETS__MIRROR", "true")
    if google == "500":
        fake.fail(500, times=1000)
    if google == "refused":
        use_client(monkeypatch, lambda *_a, **_k: gspread.Client(auth=None, session=LocalSession("http://127.0.0.1:9")))
    result = runner.invoke(app, ["analyze", str(short_clip), "--db", str(cli_env), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["minutes"] == 2
    with Store(cli_env) as s:
        if google == "up":
            assert_sheet_matches_db(fake, s, [1])
            assert fake.values(KEY, SUMMARY_WS)[1][3] == "completed"
            assert s.outbox_pending(CONSUMER) == []
        else:
            assert "2 minute(s) of 1 session(s) stay queued" in result.stderr
            assert len(s.outbox_pending(CONSUMER)) == 3
