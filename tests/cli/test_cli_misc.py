"""Smaller CLI paths through the real app object: purge, db upgrade, exports, empty states."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from engage.cli import app
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import open_store

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture()
def seeded(tmp_path, engage_home):
    """A real SQLite database with an old and a recent session, written through the library."""
    db = tmp_path / "seeded.db"
    store = open_store(db)
    emotions = {e: 1 / 7 for e in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")}
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


def test_purge_deletes_only_sessions_older_than_retention(seeded):
    result = invoke("purge", "--days", "100", "--db", str(seeded))
    assert result.exit_code == 0 and "deleted 1 session" in result.stdout
    assert [s.name for s in open_store(seeded).list_sessions()] == ["this week"]


def test_retention_applies_at_start_up(seeded, monkeypatch):
    monkeypatch.setenv("ENGAGE_PRIVACY__RETENTION_DAYS", "30")
    listed = json.loads(invoke("sessions", "--db", str(seeded), "--json").stdout)
    assert [s["name"] for s in listed] == ["this week"]


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
    from engage.errors import EngageError

    with pytest.raises(EngageError, match="no session 'nope'"):
        invoke("show", "nope", "--db", str(seeded))
    with pytest.raises(EngageError, match="unknown export format"):
        invoke("export", "old lecture", "--format", "xlsx", "--db", str(seeded))
