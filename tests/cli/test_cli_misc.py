"""Smaller CLI paths through the real app object: purge, db upgrade, exports, empty states."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from cli_main import one_line_error, run_main
from minute_samples import ATTENTION_COLUMNS, attention_fields, sample_minute
from typer.testing import CliRunner

from engage.cli import app
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import open_store

runner = CliRunner()
EMOTION_VALUES = {e: (i + 1) / 28 for i, e in enumerate(EMOTIONS)}  # distinct, so a swapped column shows


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture()
def seeded(tmp_path, engage_home):
    """A real SQLite database with an old and a recent session, written through the library."""
    db = tmp_path / "seeded.db"
    store = open_store(db)
    emotions = EMOTION_VALUES
    for name, age in (("old lecture", 200), ("this week", 2)):
        sid = store.create_session(
            name,
            "/videos/x.mp4",
            "video",
            1.0,
            "model@1",
            {"sample_fps": 1.0},
            started_at=datetime.now(UTC) - timedelta(days=age),
        )
        for minute in range(2):
            store.add_minute(
                sid,
                MinuteMetrics(
                    minute=minute,
                    start_s=minute * 60.0,
                    end_s=minute * 60.0 + 59,
                    frames_sampled=60,
                    frames_expected=60,
                    faces_total=120,
                    faces_mean=2.0,
                    faces_max=2,
                    suppressed=False,
                    emotion_mean=emotions,
                    emotion_top_share=emotions,
                    dominant_emotion="neutral",
                    valence=0.0,
                    engagement=0.5 + minute / 10,
                    engagement_high=0.2,
                    engagement_nominal=0.7,
                    engagement_low=0.1,
                ),
            )
        store.finish_session(sid, "completed", media_duration_s=120.0)
    store.close()
    return db


def test_sessions_and_export_json(seeded, tmp_path):
    listed = json.loads(invoke("sessions", "--db", str(seeded), "--json").stdout)
    assert [s["name"] for s in listed] == ["this week", "old lecture"]
    out = tmp_path / "s.json"
    assert invoke("export", "this week", "--format", "json", "-o", str(out), "--db", str(seeded)).exit_code == 0
    exported = json.loads(out.read_text())
    assert exported["name"] == "this week"
    assert [m["engagement"] for m in exported["minutes"]] == pytest.approx([0.5, 0.6])


def test_export_csv_has_a_plain_number_per_emotion_and_minute_starts_at_1(seeded):
    result = invoke("export", "this week", "--format", "csv", "--db", str(seeded))
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [int(r["minute"]) for r in rows] == [1, 2]
    assert "emotion_mean" not in rows[0] and "emotion_top_share" not in rows[0]
    for row in rows:
        for e, value in EMOTION_VALUES.items():
            # a cell a spreadsheet can sum, not a Python dict repr
            assert float(row[f"mean_{e}"]) == pytest.approx(value)
            assert float(row[f"share_{e}"]) == pytest.approx(value)
    assert [float(r["engagement"]) for r in rows] == pytest.approx([0.5, 0.6])


def test_export_json_and_show_json_count_minutes_from_1(seeded, tmp_path):
    out = tmp_path / "s.json"
    assert invoke("export", "this week", "--format", "json", "-o", str(out), "--db", str(seeded)).exit_code == 0
    shown = json.loads(invoke("show", "this week", "--json", "--db", str(seeded)).stdout)
    for minutes in (json.loads(out.read_text())["minutes"], shown["minutes"]):
        assert [m["minute"] for m in minutes] == [1, 2]
        assert minutes[0]["mean_happy"] == pytest.approx(EMOTION_VALUES["happy"])
        assert minutes[0]["share_neutral"] == pytest.approx(EMOTION_VALUES["neutral"])


def test_parquet_export_has_the_csv_columns(seeded, tmp_path):
    import pandas as pd

    csv_path, parquet_path = tmp_path / "s.csv", tmp_path / "s.parquet"
    for fmt, path in (("csv", csv_path), ("parquet", parquet_path)):
        assert invoke("export", "this week", "--format", fmt, "-o", str(path), "--db", str(seeded)).exit_code == 0
    from_csv, from_parquet = pd.read_csv(csv_path), pd.read_parquet(parquet_path)
    assert list(from_parquet.columns) == list(from_csv.columns)
    assert from_parquet["minute"].tolist() == [1, 2]
    assert from_parquet["mean_angry"].tolist() == pytest.approx([EMOTION_VALUES["angry"]] * 2)
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)


def test_every_export_has_the_head_pose_columns_empty_for_minutes_from_before(tmp_path, engage_home):
    import pandas as pd

    db = tmp_path / "attention.db"
    with open_store(db) as store:
        sid = store.create_session("with head pose", "/videos/y.mp4", "video", 1.0, "model@2", {})
        store.add_minute(sid, sample_minute(0))
        store.add_minute(sid, sample_minute(1))
        store.add_minute(sid, sample_minute(2, attention=False))  # as stored before engage measured head pose
        store.finish_session(sid, "completed", media_duration_s=180.0)
    expected = [attention_fields(0), attention_fields(1), dict.fromkeys(ATTENTION_COLUMNS)]

    def check(rows: list[dict], source: str) -> None:
        assert len(rows) == 3, source
        for row, want in zip(rows, expected, strict=True):
            for name in ATTENTION_COLUMNS:
                got = row[name]
                missing = got is None or got == "" or (isinstance(got, float) and math.isnan(got)) or got is pd.NA
                if want[name] is None:
                    assert missing, (source, name, got)
                else:
                    assert float(got) == pytest.approx(want[name]), (source, name, got)

    paths = {fmt: tmp_path / f"s.{fmt}" for fmt in ("csv", "parquet", "json")}
    for fmt, path in paths.items():
        assert invoke("export", str(sid), "--format", fmt, "-o", str(path), "--db", str(db)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    check(rows, "csv")
    assert [r["people"] for r in rows] == ["3", "4", ""]  # a count of people, not 3.0
    assert list(rows[0])[-6:] == list(ATTENTION_COLUMNS)  # after every older column
    parquet = pd.read_parquet(paths["parquet"])
    assert str(parquet["people"].dtype) in ("Int64", "int64") and parquet["attention_away"].dtype == "float64"
    check(parquet.to_dict("records"), "parquet")
    check(json.loads(paths["json"].read_text())["minutes"], "json")
    check(json.loads(invoke("show", str(sid), "--json", "--db", str(db)).stdout)["minutes"], "show --json")


def test_purge_deletes_only_sessions_older_than_retention(seeded):
    result = invoke("purge", "--days", "100", "--db", str(seeded))
    assert result.exit_code == 0 and "deleted 1 session" in result.stdout
    assert [s.name for s in open_store(seeded).list_sessions()] == ["this week"]


def test_retention_applies_when_a_command_writes(seeded, monkeypatch):
    monkeypatch.setenv("ENGAGE_PRIVACY__RETENTION_DAYS", "30")
    listed = json.loads(invoke("sessions", "--db", str(seeded), "--json").stdout)
    assert [s["name"] for s in listed] == ["this week", "old lecture"]  # reading deletes nothing
    # A command that writes (here an export to Sheets with nothing to send) applies the retention first.
    result = invoke("export", "sheets", "--spreadsheet", "1SomeSpreadsheetKey00", "--db", str(seeded))
    assert "nothing to send" in result.stdout and "older than 30 days (retention)" in result.stderr
    assert [s.name for s in open_store(seeded).list_sessions()] == ["this week"]


def test_db_upgrade_reports_the_head_revision(tmp_path, engage_home):
    result = invoke("db", "upgrade", "--db", str(tmp_path / "new.db"))
    assert result.exit_code == 0 and "latest" in result.stdout
    assert open_store(tmp_path / "new.db").current_revision() == open_store(tmp_path / "new.db").head_revision()


def test_empty_database_says_what_to_do(tmp_path, engage_home):
    result = invoke("sessions", "--db", str(tmp_path / "empty.db"))
    assert result.exit_code == 0 and "engage demo" in result.stderr


def test_default_database_lives_in_the_user_data_folder(engage_home):
    assert invoke("db", "upgrade").exit_code == 0
    assert (engage_home / "engage.db").is_file()


def test_unknown_session_and_export_format(seeded):
    # Through engage.cli.main, the part that makes an error one line (the Typer app alone raises it).
    line = one_line_error(run_main("show", "nope", "--db", str(seeded)))
    assert line == "error: no session 'nope'; run `engage sessions` to list them"
    line = one_line_error(run_main("export", "old lecture", "--format", "xlsx", "--db", str(seeded)))
    assert line == "error: unknown export format 'xlsx'; use one of csv, parquet, json"


def test_help_reads_plainly_with_a_version_and_the_export_options():
    import subprocess
    import sys

    def engage(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "engage", *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert engage("--version").startswith("engage ")
    for args in (["--help"], ["analyze", "--help"], ["show", "--help"], ["export", "--help"]):
        text = engage(*args)
        assert "<bool>" not in text and "╭" not in text, args  # plain help, no Rich panels or flag types
    assert "--format csv|parquet|json" in engage("export", "--help")
    assert "--db DB" in engage("show", "--help")


def test_sessions_and_show_fit_80_columns_one_line_per_row(tmp_path):
    import os
    import subprocess
    import sys

    from engage.store.database import open_store

    db = tmp_path / "engage.db"
    with open_store(db) as store:
        store.upgrade()
        sid = store.create_session(
            "Physics 101, week 3: waves, oscillations and resonance",
            "/srv/lectures/2026/autumn/physics-101/week-03-waves-and-oscillations.mp4",
            "video",
            1.0,
            "m",
            {},
        )
        for k in range(3):
            m = sample_minute(k)
            if k == 0:  # the widest cells: lopsided intervals around the engagement and the top corrected share
                m.engagement_low90, m.engagement_high90 = 0.42, 0.53
                m.emotion_corrected = {e: 0.41 if e == "neutral" else 0.59 / 6 for e in EMOTIONS}
                m.emotion_corrected_low90 = {e: v - 0.09 for e, v in m.emotion_corrected.items()}
                m.emotion_corrected_high90 = {e: v + 0.08 for e, v in m.emotion_corrected.items()}
            store.add_minute(sid, m)
        store.add_minute(sid, MinuteMetrics(3, 180.0, 239.0, 60, 60, 30, 0.5, 1, True, people=1))  # hidden
        store.finish_session(sid, "completed", media_duration_s=240.0)
        old = store.create_session("before head pose", "/videos/old.mp4", "video", 1.0, "m", {})
        for k in range(2):
            store.add_minute(old, sample_minute(k, attention=False))
        store.finish_session(old, "completed", media_duration_s=120.0)

    def lines(*args: str) -> list[str]:
        env = {**os.environ, "COLUMNS": "80"}
        done = subprocess.run(
            [sys.executable, "-m", "engage", *args, "--db", str(db)], capture_output=True, text=True, env=env
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    listed = lines("sessions")
    assert all(len(line) <= 80 for line in listed), listed
    (row,) = [line for line in listed if "Physics" in line]  # one line: nothing wrapped
    assert "week-03-wa" in row and "/srv/" not in row  # the source as its file name, cut to fit
    shown = lines("show", str(sid))
    assert all(len(line) <= 80 for line in shown), shown
    header = next(line for line in shown if line.lstrip().startswith("min"))
    assert header.split()[:6] == ["min", "frames", "faces", "people", "engagement", "facing"]
    minute_lines = [line for line in shown if "60/60" in line]
    assert len(minute_lines) == 4  # a line a minute
    assert minute_lines[0].split()[:6] == ["1", "60/60", "2.0/3", "3", "0.50", "−0.08/+0.03"]
    assert minute_lines[0].split()[6:] == ["50%", "+0.00", "neutral", "41%", "−9/+8"]  # nothing cut
    assert minute_lines[1].split()[:5] == ["2", "60/60", "2.0/3", "4", "0.50"] and " 60% " in minute_lines[1]
    assert minute_lines[3].split() == ["4", "60/60", "0.5/1", "1", "hidden", "(privacy)", "–"]
    summary = shown.index(next(line for line in shown if line.startswith("4 minute(s), 1 hidden for privacy")))
    # The session's attention, weighted by faces like its engagement: facing (50+60+70)/3 %, 4 people at most.
    assert shown[summary + 1] == "head pose: facing 60%, down 27%, away 13% of faces; at most 4 people in a minute"

    shown = lines("show", str(old))  # a session from before head pose: dashes, and no head pose line
    minute_lines = [line for line in shown if "60/60" in line]
    assert [line.split()[3] for line in minute_lines] == ["–", "–"] and all(" – " in line for line in minute_lines)
    assert shown[-1].startswith("2 minute(s), 0 hidden for privacy")  # the session's summary line, last
    assert not any(line.startswith("head pose:") for line in shown)


def test_parquet_columns_keep_their_types_when_every_minute_is_hidden(tmp_path, engage_home):
    import dataclasses

    import pyarrow.parquet as pq

    db = tmp_path / "hidden.db"
    hidden = dataclasses.replace(
        sample_minute(0),
        suppressed=True,
        emotion_mean=None,
        emotion_top_share=None,
        dominant_emotion=None,
        valence=None,
        engagement=None,
        engagement_high=None,
        engagement_nominal=None,
        engagement_low=None,
    )
    with open_store(db) as store:
        for name, minute in (("shown", sample_minute(0)), ("hidden", hidden)):
            sid = store.create_session(name, f"/videos/{name}.mp4", "video", 1.0, "model@2", {})
            store.add_minute(sid, minute)
            store.finish_session(sid, "completed", media_duration_s=60.0)
    schemas = {}
    for name in ("shown", "hidden"):
        path = tmp_path / f"{name}.parquet"
        assert invoke("export", name, "--format", "parquet", "-o", str(path), "--db", str(db)).exit_code == 0
        schemas[name] = pq.read_schema(path)
    # Files of many sessions can be read as one table: no column is typed null because one session hid it.
    assert not [f.name for f in schemas["hidden"] if str(f.type) == "null"]
    assert schemas["hidden"].types == schemas["shown"].types
