"""The Store's outbox: consumers subscribe, every write queues for each of them in its own transaction."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from minute_samples import sample_minute

from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import Store


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "engage.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store(db_path) as s:
        yield s


def minute(k: int) -> MinuteMetrics:
    return sample_minute(k)


def new_session(store: Store, name: str = "lecture") -> int:
    return store.create_session(name, f"/videos/{name}.mp4", "video", 1.0, "model@1", {})


def queued(store: Store, consumer: str) -> list[tuple[int, int | None]]:
    return [(i.session_id, i.minute) for i in store.outbox_pending(consumer)]


def test_nothing_is_queued_until_a_consumer_subscribes(store: Store) -> None:
    sid = new_session(store)
    store.add_minute(sid, minute(0))
    store.finish_session(sid, "completed")
    assert store.subscribers() == [] and queued(store, "sheets") == []

    assert store.subscribe("sheets") is True
    assert store.subscribe("sheets") is False  # already
    store.add_minute(sid, minute(1))
    assert store.subscribers() == ["sheets"] and queued(store, "sheets") == [(sid, 1)]


def test_every_write_queues_for_every_subscriber_in_its_own_transaction(store: Store, db_path: Path) -> None:
    store.subscribe("sheets")
    store.subscribe("archive")
    sid = new_session(store)
    store.add_minute(sid, minute(0))
    store.add_minute(sid, minute(0))  # rewritten: queued again, with a newer id
    with pytest.raises(EngageError):
        store.add_minute(sid + 1, minute(0))  # no such session: neither the minute nor a row is written
    store.finish_session(sid, "completed")  # the session itself changed
    for consumer in ("sheets", "archive"):
        assert queued(store, consumer) == [(sid, 0), (sid, 0), (sid, None)]

    crashed = new_session(store, "crashed")
    with sqlite3.connect(db_path) as con:
        con.execute("UPDATE sessions SET pid = ? WHERE id = ?", (_exited_pid(), crashed))
    con.close()
    assert store.mark_interrupted() == 1
    assert queued(store, "archive")[-1] == (crashed, None)

    store.delete_session(sid)  # its rows go with it, for every consumer
    assert queued(store, "sheets") == queued(store, "archive") == [(crashed, None)]


def test_a_subscription_made_elsewhere_applies_to_stores_already_open(store: Store, db_path: Path) -> None:
    sid = new_session(store)
    with Store(db_path) as other_process:
        other_process.subscribe("sheets")
    store.add_minute(sid, minute(0))
    assert queued(store, "sheets") == [(sid, 0)]


def test_pending_done_and_failed_touch_one_consumers_rows(store: Store) -> None:
    store.subscribe("sheets")
    store.subscribe("archive")
    a, b = new_session(store, "a"), new_session(store, "b")
    for sid in (a, b):
        for k in range(3):
            store.add_minute(sid, minute(k))
    assert [(i.session_id, i.minute) for i in store.outbox_pending("sheets", limit=2)] == [(a, 0), (a, 1)]
    assert queued(store, "sheets")[3:] == [(b, 0), (b, 1), (b, 2)]
    assert [i.minute for i in store.outbox_pending("sheets", session_ids=[b])] == [0, 1, 2]

    ids = [i.id for i in store.outbox_pending("sheets", session_ids=[a])]
    store.outbox_failed(ids, "Google returned 503\n  (try later)")
    store.outbox_failed(ids[:1], "connection refused")
    status = {s.session_id: s for s in store.outbox_status("sheets")}
    assert (status[a].attempts, status[a].last_error, status[a].minutes) == (2, "connection refused", 3)
    assert status[a].last_attempt_at is not None and not status[a].summary
    assert (status[b].attempts, status[b].last_error, status[b].last_attempt_at) == (0, None, None)
    assert status[a].to_dict()["name"] == "a"

    store.outbox_done(ids)
    assert queued(store, "sheets") == [(b, 0), (b, 1), (b, 2)]
    assert len(queued(store, "archive")) == 6  # the other consumer still has everything
    assert [s.session_id for s in store.outbox_status("sheets")] == [b]
    assert store.outbox_status("archive")[0].attempts == 0


def test_queue_session_adds_what_is_not_waiting_for_that_consumer(store: Store) -> None:
    sid = new_session(store)
    for k in range(3):
        store.add_minute(sid, minute(k))
    store.subscribe("sheets")
    store.add_minute(sid, minute(1))
    assert store.outbox_queue_session("sheets", sid) == 3  # minutes 0 and 2, and the session itself
    assert sorted(queued(store, "sheets"), key=lambda r: (r[1] is None, r[1])) == [
        (sid, 0),
        (sid, 1),
        (sid, 2),
        (sid, None),
    ]
    assert store.outbox_queue_session("sheets", sid) == 0
    assert store.outbox_queue_session("archive", sid) == 4  # another consumer's queue is its own
    status = store.outbox_status("sheets")[0]
    assert (status.minutes, status.summary) == (3, True)


def test_a_consumer_is_a_short_name(store: Store) -> None:
    for bad in ("", "Sheets", "two words", "x" * 40):
        with pytest.raises(ValueError, match="consumer"):
            store.subscribe(bad)


def test_a_read_only_store_reads_the_outbox(db_path: Path) -> None:
    with Store(db_path) as writer:
        writer.subscribe("sheets")
        writer.add_minute(new_session(writer), minute(0))
    with Store(f"sqlite:///file:{db_path}?mode=ro&uri=true", upgrade=False) as reader:
        assert len(reader.outbox_pending("sheets")) == 1 and len(reader.outbox_status("sheets")) == 1
        with pytest.raises(EngageError, match="read-only"):
            reader.outbox_done([1])


def _exited_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
