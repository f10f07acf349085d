"""Alembic migrations: empty -> head, upgrade from the previous revision keeps data, downgrade to base."""

from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.store.database import Store
from engage.store.engine import alembic_config
from engage.store.schema import Base

INITIAL = "c5a1f0e2b9d4"
STATUS_DETAIL = "7b3e9d14a2f6"
SHEETS_OUTBOX = "d4e8a2c61f35"
GENERIC_OUTBOX = "e9a4c7d2f1b8"
IDS_NEVER_REUSED = "a3f7c9e2d5b1"  # session ids never reused (AUTOINCREMENT), stored secrets masked
INTERVALS = "f3b7c1d9a2e4"  # minutes: 90% intervals and corrected emotion shares
HEAD = "b8d2e6f4a1c3"  # minutes: people, attention shares, readable share, engagement_v1 (head pose, issue 18)

SESSION_COLUMNS = {
    "id",
    "name",
    "source",
    "kind",
    "content_hash",
    "started_at",
    "ended_at",
    "status",
    "status_detail",
    "media_duration_s",
    "sample_fps",
    "model",
    "config_json",
    "pid",
    "host",
    "created_at",
}
INTERVAL_COLUMNS = {
    "engagement_low90",
    "engagement_high90",
    *(f"corrected_{e}{suffix}" for e in EMOTIONS for suffix in ("", "_low90", "_high90")),
}
ATTENTION_COLUMNS = {
    "people",
    "attention_facing",
    "attention_down",
    "attention_away",
    "readable_share",
    "engagement_v1",
}
MINUTE_COLUMNS = {
    "id",
    "session_id",
    "minute",
    "start_s",
    "end_s",
    "frames_sampled",
    "frames_expected",
    "faces_total",
    "faces_mean",
    "faces_max",
    "suppressed",
    "dominant_emotion",
    "valence",
    "engagement",
    "engagement_high",
    "engagement_nominal",
    "engagement_low",
    *(f"p_{e}" for e in EMOTIONS),
    *(f"top_{e}" for e in EMOTIONS),
    *INTERVAL_COLUMNS,
    *ATTENTION_COLUMNS,
}


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"


def test_revision_chain() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [HEAD]
    assert [r.revision for r in script.walk_revisions()] == [
        HEAD,
        INTERVALS,
        IDS_NEVER_REUSED,
        GENERIC_OUTBOX,
        SHEETS_OUTBOX,
        STATUS_DETAIL,
        INITIAL,
    ]
    assert script.get_revision(INITIAL).down_revision is None


def test_upgrade_empty_to_head(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    with Store(path) as store:
        assert store.current_revision() == store.head_revision() == HEAD
        store.upgrade()  # already there: a no-op
    insp = inspect(create_engine(url_of(path)))
    assert set(insp.get_table_names()) == {"alembic_version", "sessions", "minutes", "outbox", "outbox_consumers"}
    assert {c["name"] for c in insp.get_columns("sessions")} == SESSION_COLUMNS
    assert {c["name"] for c in insp.get_columns("outbox")} == {
        "id",
        "consumer",
        "session_id",
        "minute",
        "queued_at",
        "attempts",
        "last_attempt_at",
        "last_error",
    }
    assert {c["name"] for c in insp.get_columns("outbox_consumers")} == {"name", "subscribed_at"}
    (outbox_fk,) = insp.get_foreign_keys("outbox")
    assert (outbox_fk["referred_table"], outbox_fk["options"].get("ondelete")) == ("sessions", "CASCADE")
    assert {c["name"] for c in insp.get_columns("minutes")} == MINUTE_COLUMNS
    nullable = {c["name"]: c["nullable"] for c in insp.get_columns("minutes")}
    assert all(nullable[f"p_{e}"] and nullable[f"top_{e}"] for e in EMOTIONS)
    assert not nullable["faces_total"] and not nullable["suppressed"]

    (fk,) = insp.get_foreign_keys("minutes")
    assert (fk["referred_table"], fk["constrained_columns"], fk["options"].get("ondelete")) == (
        "sessions",
        ["session_id"],
        "CASCADE",
    )
    assert [u["column_names"] for u in insp.get_unique_constraints("minutes")] == [["session_id", "minute"]]
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("sessions")}
    assert {("content_hash",), ("started_at",), ("name",), ("status",)} <= indexed
    assert ("session_id",) in {tuple(i["column_names"]) for i in insp.get_indexes("minutes")}


def test_models_match_the_migrations(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    Store(path).close()
    with create_engine(url_of(path)).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_no_column_could_hold_images_or_identities(tmp_path: Path) -> None:
    for table in Base.metadata.tables.values():
        for column in table.columns:
            assert column.type.python_type is not bytes, f"{table.name}.{column.name} is binary"
            assert not any(word in column.name for word in ("image", "crop", "embedding", "identity", "face_id"))


def test_upgrade_from_the_previous_revision_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    command.upgrade(alembic_config(url_of(path)), INITIAL)  # env.py making its own connection
    with sqlite3.connect(path) as con:
        assert "status_detail" not in {r[1] for r in con.execute("PRAGMA table_info(sessions)")}
        con.execute(
            "INSERT INTO sessions (id, name, source, kind, started_at, status, sample_fps, model, config_json,"
            " created_at) VALUES (1, 'old lecture', 'old.mp4', 'video', '2026-01-05 09:00:00.000000', 'completed',"
            " 2.0, 'emotion.tflite@0000000', '{\"sample_fps\": 2.0}', '2026-01-05 09:00:00.000000')"
        )
        con.execute(
            "INSERT INTO minutes (session_id, minute, start_s, end_s, frames_sampled, frames_expected, faces_total,"
            " faces_mean, faces_max, suppressed, p_happy, dominant_emotion)"
            " VALUES (1, 0, 0.0, 59.5, 120, 120, 240, 2.0, 3, 0, 0.6, 'happy')"
        )
    con.close()

    with Store(path) as store:  # opening upgrades to head
        assert store.current_revision() == HEAD
        info = store.get_session(1)
        assert (info.name, info.status, info.status_detail, info.minutes) == ("old lecture", "completed", None, 1)
        assert info.config == {"sample_fps": 2.0}
        assert info.started_at.isoformat() == "2026-01-05T09:00:00+00:00"
        (minute,) = store.minutes(1)
        assert minute.emotion_mean is not None and minute.emotion_mean["happy"] == 0.6
        assert minute.dominant_emotion == "happy"


def test_downgrade_to_previous_keeps_minutes(tmp_path: Path) -> None:
    # Downgrading copies `sessions` on SQLite; with foreign keys on that would cascade-delete every minute.
    path = tmp_path / "engage.db"
    with Store(path) as store:
        sid = store.create_session("s", "a.mp4", "video", 2.0, "m", {})
        store.finish_session(sid, "failed", detail="decoder crashed")
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO minutes (session_id, minute, start_s, end_s, frames_sampled, frames_expected,"
                f" faces_total, faces_mean, faces_max, suppressed) VALUES ({sid}, 0, 0, 59, 1, 1, 0, 0, 0, 1)"
            )
        store.downgrade(INITIAL)
        assert store.current_revision() == INITIAL
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*) FROM minutes").fetchone()[0] == 1
        assert con.execute("SELECT status FROM sessions").fetchall() == [("failed",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    with Store(path) as store:
        assert store.get_session(sid).minutes == 1


def test_downgrade_to_base(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    Store(path).close()
    command.downgrade(alembic_config(url_of(path)), "base")
    insp = inspect(create_engine(url_of(path)))
    assert set(insp.get_table_names()) == {"alembic_version"}
    with Store(path) as store:  # and back up again
        assert store.current_revision() == HEAD


def test_store_downgrade_to_base(tmp_path: Path) -> None:
    with Store(tmp_path / "engage.db") as store:
        store.downgrade("base")
        assert store.current_revision() is None
        with pytest.raises(EngageError, match="cannot downgrade"):
            store.downgrade("nonexistent")


def test_database_from_a_newer_engage(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    Store(path).close()
    with sqlite3.connect(path) as con:
        con.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    con.close()
    with pytest.raises(EngageError, match="newer than this engage"):
        Store(path)


def test_offline_sql(tmp_path: Path) -> None:
    config = alembic_config(url_of(tmp_path / "never-created.db"))
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE sessions" in sql and "CREATE TABLE minutes" in sql
    assert not (tmp_path / "never-created.db").exists()


def test_threads_opening_a_new_database_at_once(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    errors: list[BaseException] = []

    def open_and_close() -> None:
        try:
            Store(path).close()
        except BaseException as exc:  # noqa: B036 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store(path) as store:
        assert store.current_revision() == HEAD


def test_upgrade_from_status_detail_adds_an_empty_outbox_and_queues_for_subscribers(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    command.upgrade(alembic_config(url_of(path)), STATUS_DETAIL)
    with sqlite3.connect(path) as con:
        assert "sheets_outbox" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        con.execute(
            "INSERT INTO sessions (id, name, source, kind, started_at, status, sample_fps, model, config_json,"
            " created_at) VALUES (1, 'old', 'old.mp4', 'video', '2026-01-05 09:00:00.000000', 'completed',"
            " 1.0, 'm', '{}', '2026-01-05 09:00:00.000000')"
        )
        con.execute(
            "INSERT INTO minutes (session_id, minute, start_s, end_s, frames_sampled, frames_expected, faces_total,"
            " faces_mean, faces_max, suppressed) VALUES (1, 0, 0.0, 59.0, 60, 60, 60, 1.0, 1, 0)"
        )
    con.close()
    with Store(path) as store:
        assert store.current_revision() == HEAD
        assert store.get_session(1).minutes == 1
        # Old minutes are not queued (export them with `engage export sheets`), and nobody subscribes by itself.
        assert store.subscribers() == [] and store.outbox_pending("sheets") == []
        store.finish_session(1, "completed")
        assert store.outbox_pending("sheets") == []
        store.subscribe("sheets")
        store.finish_session(1, "completed")
        assert [(i.session_id, i.minute) for i in store.outbox_pending("sheets")] == [(1, None)]
        store.downgrade(STATUS_DETAIL)
        assert store.current_revision() == STATUS_DETAIL
        assert store.get_session(1).minutes == 1
    insp = inspect(create_engine(url_of(path)))
    assert not {"sheets_outbox", "outbox", "outbox_consumers"} & set(insp.get_table_names())


OUTBOX_ROW = "INSERT INTO sheets_outbox (session_id, minute, queued_at, attempts, last_attempt_at, last_error) VALUES"


def test_upgrade_to_the_generic_outbox_keeps_queued_rows_as_consumer_sheets(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    command.upgrade(alembic_config(url_of(path)), SHEETS_OUTBOX)
    with sqlite3.connect(path) as con:
        con.execute(
            "INSERT INTO sessions (id, name, source, kind, started_at, status, sample_fps, model, config_json,"
            " created_at) VALUES (7, 'queued', 'q.mp4', 'video', '2026-11-20 09:00:00.000000', 'completed',"
            " 1.0, 'm', '{}', '2026-11-20 09:00:00.000000')"
        )
        con.execute(f"{OUTBOX_ROW} (7, 3, '2026-11-20 09:04:00.000000', 0, NULL, NULL)")
        con.execute(f"{OUTBOX_ROW} (7, 1, '2026-11-20 09:02:00.000000', 2, '2026-11-20 10:00:00.000000', 'Google 503')")
        con.execute(f"{OUTBOX_ROW} (7, NULL, '2026-11-20 09:05:00.000000', 0, NULL, NULL)")
    con.close()

    with Store(path) as store:
        assert store.current_revision() == HEAD
        # The rows keep their order (queue order, not minute order), attempts and last error.
        assert [(i.session_id, i.minute) for i in store.outbox_pending("sheets")] == [(7, 3), (7, 1), (7, None)]
        (status,) = store.outbox_status("sheets")
        assert (status.minutes, status.summary, status.attempts, status.last_error) == (2, True, 2, "Google 503")
        assert status.queued_since.isoformat() == "2026-11-20T09:02:00+00:00"
        assert store.outbox_pending("other") == []
        store.subscribe("sheets")
        store.subscribe("other")
        store.finish_session(7, "completed")  # one more row for each consumer
        assert len(store.outbox_pending("sheets")) == 4 and len(store.outbox_pending("other")) == 1

        store.downgrade(SHEETS_OUTBOX)  # the "sheets" rows go back; the other consumer's are dropped
        assert store.current_revision() == SHEETS_OUTBOX
    with sqlite3.connect(path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "sheets_outbox" in tables and not {"outbox", "outbox_consumers"} & tables
        rows = con.execute("SELECT session_id, minute, attempts, last_error FROM sheets_outbox ORDER BY id").fetchall()
        assert rows == [(7, 3, 0, None), (7, 1, 2, "Google 503"), (7, None, 0, None), (7, None, 0, None)]
    con.close()
    with Store(path) as store:  # and up again
        assert len(store.outbox_pending("sheets")) == 4


SESSION_ROW = (
    "INSERT INTO sessions (id, name, source, kind, started_at, status, sample_fps, model, config_json, created_at)"
    " VALUES (?, ?, 'v.mp4', 'video', '2026-11-20 09:00:00.000000', 'completed', 1.0, 'm', ?,"
    " '2026-11-20 09:00:00.000000')"
)


def test_a_deleted_sessions_id_is_never_given_to_another(tmp_path: Path) -> None:
    with Store(tmp_path / "engage.db") as store:
        ids = [store.create_session(f"s{i}", "v.mp4", "video", 1.0, "m", {}) for i in range(3)]
        store.delete_session(ids[-1])  # the newest: a plain INTEGER PRIMARY KEY would hand out its id again
        assert store.create_session("next", "w.mp4", "video", 1.0, "m", {}) == ids[-1] + 1


def test_upgrade_masks_stored_secrets_keeps_rows_and_stops_id_reuse(tmp_path: Path) -> None:
    import json

    path = tmp_path / "engage.db"
    command.upgrade(alembic_config(url_of(path)), GENERIC_OUTBOX)
    leaky = {
        "database": "postgresql+psycopg://engage:pg-Secret-1@dbhost/engage",
        "dashboard": {"username": "prof", "password": "dash-Secret-2"},
        "sample_fps": 1.0,
    }
    with sqlite3.connect(path) as con:
        con.execute(SESSION_ROW, (4, "leaky", json.dumps(leaky)))
        con.execute(SESSION_ROW, (9, "clean", json.dumps({"sample_fps": 2.0})))
        con.execute(SESSION_ROW, (10, "odd", "not json"))
        con.execute(
            "INSERT INTO minutes (session_id, minute, start_s, end_s, frames_sampled, frames_expected, faces_total,"
            " faces_mean, faces_max, suppressed) VALUES (4, 0, 0.0, 59.0, 60, 60, 60, 1.0, 1, 0)"
        )
    con.close()
    with Store(path) as store:
        assert store.current_revision() == HEAD
        assert [s.id for s in store.list_sessions()] == [10, 9, 4] and store.get_session(4).minutes == 1
        store.delete_session(10)
        assert store.create_session("new", "n.mp4", "video", 1.0, "m", {}) == 11
    with sqlite3.connect(path) as con:
        stored = dict(con.execute("SELECT name, config_json FROM sessions").fetchall())
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    con.close()
    assert "pg-Secret-1" not in stored["leaky"] and "dash-Secret-2" not in stored["leaky"]
    masked = json.loads(stored["leaky"])
    assert masked["database"] == "postgresql+psycopg://engage:***@dbhost/engage"
    assert masked["dashboard"] == {"username": "prof", "password": "***"} and masked["sample_fps"] == 1.0
    assert json.loads(stored["clean"]) == {"sample_fps": 2.0}
    assert {"ix_sessions_content_hash", "ix_sessions_started_at", "ix_sessions_name", "ix_sessions_status"} <= indexes
    with Store(path) as store:
        store.downgrade(GENERIC_OUTBOX)
        assert [s.name for s in store.list_sessions()] == ["new", "clean", "leaky"]
        assert store.get_session(4).minutes == 1


def test_upgrade_to_intervals_keeps_earlier_minutes_with_empty_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    command.upgrade(alembic_config(url_of(path)), IDS_NEVER_REUSED)
    with sqlite3.connect(path) as con:
        con.execute(SESSION_ROW, (3, "before", "{}"))
        con.execute(
            "INSERT INTO minutes (session_id, minute, start_s, end_s, frames_sampled, frames_expected, faces_total,"
            " faces_mean, faces_max, suppressed, p_neutral, top_neutral, engagement, dominant_emotion)"
            " VALUES (3, 0, 0.0, 59.0, 60, 60, 120, 2.0, 3, 0, 0.7, 0.8, 0.61, 'neutral'),"
            " (3, 1, 60.0, 119.0, 60, 60, 0, 0.0, 0, 1, NULL, NULL, NULL, NULL)"
        )
    con.close()
    with Store(path) as store:
        assert store.current_revision() == HEAD
        first, second = store.minutes(3)
        assert (first.engagement, first.emotion_mean["neutral"], first.emotion_top_share["neutral"]) == (0.61, 0.7, 0.8)
        assert first.dominant_emotion == "neutral" and second.suppressed and second.emotion_mean is None
        # Nothing measured the new figures for these minutes: they are empty, not zeros.
        assert first.engagement_low90 is None and first.engagement_high90 is None
        assert first.emotion_corrected is None and first.emotion_corrected_low90 is None
        assert all(first.to_row()[c] is None for c in INTERVAL_COLUMNS)
        store.downgrade(IDS_NEVER_REUSED)
        assert store.current_revision() == IDS_NEVER_REUSED
    with sqlite3.connect(path) as con:
        columns = {r[1] for r in con.execute("PRAGMA table_info(minutes)")}
        rows = con.execute("SELECT minute, p_neutral, engagement FROM minutes ORDER BY minute").fetchall()
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    assert not columns & INTERVAL_COLUMNS
    assert rows == [(0, 0.7, 0.61), (1, None, None)]


def test_upgrade_to_attention_keeps_earlier_minutes_with_empty_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "engage.db"
    command.upgrade(alembic_config(url_of(path)), INTERVALS)  # the previous release's head
    with sqlite3.connect(path) as con:
        con.execute(SESSION_ROW, (5, "before attention", "{}"))
        con.execute(
            "INSERT INTO minutes (session_id, minute, start_s, end_s, frames_sampled, frames_expected, faces_total,"
            " faces_mean, faces_max, suppressed, p_neutral, top_neutral, engagement, engagement_low90,"
            " engagement_high90, corrected_neutral, dominant_emotion)"
            " VALUES (5, 0, 0.0, 59.0, 60, 60, 120, 2.0, 3, 0, 0.7, 0.8, 0.61, 0.55, 0.66, 0.75, 'neutral'),"
            " (5, 1, 60.0, 119.0, 60, 60, 0, 0.0, 0, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
    con.close()
    with Store(path) as store:  # opening upgrades to head
        assert store.current_revision() == HEAD
        first, second = store.minutes(5)
        assert (first.engagement, first.engagement_low90, first.engagement_high90) == (0.61, 0.55, 0.66)
        assert first.emotion_corrected is not None and first.emotion_corrected["neutral"] == 0.75
        assert first.emotion_mean["neutral"] == 0.7 and second.suppressed and second.emotion_mean is None
        # Nothing measured head pose for these minutes: the new figures are empty, not zeros.
        for m in (first, second):
            assert m.people is None and m.attention_facing is None and m.attention_down is None
            assert m.attention_away is None and m.readable_share is None and m.engagement_v1 is None
            assert all(m.to_row()[c] is None for c in ATTENTION_COLUMNS)
        store.downgrade(INTERVALS)
        assert store.current_revision() == INTERVALS
    with sqlite3.connect(path) as con:
        columns = {r[1] for r in con.execute("PRAGMA table_info(minutes)")}
        rows = con.execute("SELECT minute, engagement, corrected_neutral FROM minutes ORDER BY minute").fetchall()
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    assert not columns & ATTENTION_COLUMNS and INTERVAL_COLUMNS <= columns
    assert rows == [(0, 0.61, 0.75), (1, None, None)]
    with Store(path) as store:  # and up again
        assert store.current_revision() == HEAD and len(store.minutes(5)) == 2
