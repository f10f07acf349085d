"""More of what Google Sheets does on a bad day, against the fake Sheets server through gspread's real client:
slow answers and read timeouts (with the write applied after the client gave up), 408, an access token that
expires half-way through an export, and a real `kill -9` of `engage export sheets` during its write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_sheets import FakeSheets
from test_sheets import KEY, MINUTES_WS, assert_sheet_matches_db, config, seed

from engage.sheets import client as sheets
from engage.sheets import push
from engage.sheets.outbox import CONSUMER
from engage.store.database import Store

REPO = Path(__file__).resolve().parents[2]


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


def values_writes(server: FakeSheets) -> list:
    return [body for method, path, body in server.log if path.endswith("/values:batchUpdate")]


def test_a_slow_answer_times_out_and_the_retry_neither_loses_nor_doubles(fake, store):
    a = seed(store, "Lecture 1", 4)
    # The write is applied, but its answer comes after the client stopped waiting; then a slow read.
    fake.fail("apply_then_slow", "POST", "/values:batchUpdate", delay=1.5)
    fake.fail("slow", "GET", f"/v4/spreadsheets/{KEY}", delay=1.5)
    sleeps: list[float] = []
    result = push.export_sessions(
        store, [store.get_session(a)], config(timeout_s=0.5), client=fake.client(), sleep=sleeps.append
    )
    assert result.retries == 2 and len(sleeps) == 2
    assert len(values_writes(fake)) == 2  # the same cells written twice, by name: no row added twice
    assert_sheet_matches_db(fake, store, [a])
    assert len(fake.values(KEY, MINUTES_WS)) == 1 + 4
    assert store.outbox_pending(CONSUMER) == []


def test_timeouts_until_the_retries_run_out_keep_the_minutes_queued(fake, store):
    a = seed(store, "Lecture 1", 2)
    fake.fail("slow", "GET", f"/v4/spreadsheets/{KEY}", delay=1.0, times=3)
    with pytest.raises(sheets.SheetsError, match=r"did not answer in time.*stay queued") as caught:
        push.send_pending(store, config(timeout_s=0.3, max_retries=2), client=fake.client(), sleep=lambda s: None)
    assert caught.value.transient
    assert store.outbox_status(CONSUMER)[0].minutes == 2
    time.sleep(1.2)  # let the slow answers finish
    push.send_pending(store, config(), client=fake.client())
    assert_sheet_matches_db(fake, store, [a])


def test_408_is_retried(fake, store):
    a = seed(store, "Lecture 1", 2)
    fake.fail(408, "POST", "/values:batchUpdate")
    fake.fail(408, "GET")
    sleeps: list[float] = []
    result = push.export_sessions(store, [store.get_session(a)], config(), client=fake.client(), sleep=sleeps.append)
    assert result.retries == 2 and len(sleeps) == 2
    assert_sheet_matches_db(fake, store, [a])


def _service_account_key(tmp_path: Path, token_uri: str) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    key = tmp_path / "sa.json"
    info = {"type": "service_account", "client_email": "engage@example.iam.gserviceaccount.com", "private_key": pem}
    key.write_text(json.dumps({**info, "token_uri": token_uri}))
    return key


def test_an_access_token_that_expires_mid_export_is_refreshed(fake, store, tmp_path):
    import requests

    fake.require_tokens()
    key = _service_account_key(tmp_path, f"{fake.base_url}/token")
    client = sheets.open_client(config(credentials=str(key)))  # the real google-auth session and credentials

    class ToFake(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            request.url = request.url.replace("https://sheets.googleapis.com", fake.base_url)
            return super().send(request, **kwargs)

    client.http_client.session.mount("https://sheets.googleapis.com", ToFake())
    a = seed(store, "Lecture 1", 3)
    fake.fail("expire_token", "POST", "/values:batchUpdate")  # every token issued so far stops working
    result = push.export_sessions(store, [store.get_session(a)], config(), client=client, sleep=lambda s: None)
    assert fake.tokens_issued == 2  # the first token, and the one fetched after the 401
    assert result.retries == 0  # google-auth refreshed and resent it: no back-off needed
    assert_sheet_matches_db(fake, store, [a])
    assert store.outbox_pending(CONSUMER) == []


EXPORT_SCRIPT = """
import sys
import gspread
sys.path.insert(0, {tests!r})
from fake_sheets import LocalSession
from engage.sheets import push
push.open_client = lambda *a, **k: gspread.Client(auth=None, session=LocalSession({base!r}))
from engage.cli import main
sys.argv = ["engage", "export", "sheets", "--db", {db!r}]
main()
"""


@pytest.mark.parametrize("when", ["before the write is applied", "after the write is applied"])
def test_kill_9_during_an_export_loses_and_doubles_nothing(fake, tmp_path, engage_home, when):
    db = tmp_path / "engage.db"
    with Store(db) as s:
        s.subscribe(CONSUMER)
        a = seed(s, "Lecture 1", 5)
    action = "slow" if when.startswith("before") else "apply_then_slow"
    fake.fail(action, "POST", "/values:batchUpdate", delay=30)
    script = EXPORT_SCRIPT.format(tests=str(REPO / "tests"), base=fake.base_url, db=str(db))
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "ENGAGE_SHEETS__SPREADSHEET": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not values_writes(fake):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the export never wrote"
            time.sleep(0.05)
        if action == "apply_then_slow":
            time.sleep(0.3)  # applied (the fake applies before it waits), answer not sent
    finally:
        process.send_signal(signal.SIGKILL)  # a real kill -9 (nothing if it has already ended)
        output = process.communicate()
    assert process.returncode == -signal.SIGKILL, output
    table = fake.values(KEY, MINUTES_WS)  # empty, or the header and the rows the write put there
    assert max(len(table) - 1, 0) == (0 if action == "slow" else 5)
    with Store(db) as s:
        assert len(s.outbox_pending(CONSUMER)) == 5 + 1  # nothing was cleared: the answer never came
        push.send_pending(s, config(), client=fake.client())  # the next export
        assert_sheet_matches_db(fake, s, [a])
        assert s.outbox_pending(CONSUMER) == []
    assert len(fake.values(KEY, MINUTES_WS)) == 1 + 5
