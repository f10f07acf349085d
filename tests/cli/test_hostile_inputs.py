"""What a hostile (or unlucky) user types: markup and escapes in names, odd files, broken databases, secrets.

Each test runs the real entry point, engage.cli.main (in this process through tests/cli_main.py, or as
`python -m engage` where C libraries write to the process's stderr), and checks the one-line error, the exit
status and what is stored.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from cli_main import one_line_error, run_main
from clips import make_clip, truncate
from minute_samples import sample_minute

from engage.minutes.metrics import MinuteMetrics
from engage.store.database import open_store

RED = "\x1b[31mRED\x1b[0m"
FORMULAS = ['=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "=1+1"]


def engage(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def minute(k: int, valence: float = -0.25) -> MinuteMetrics:
    return sample_minute(k, valence)


def seed(db: Path, *names: str) -> dict[str, int]:
    ids = {}
    with open_store(db) as store:
        for name in names:
            ids[name] = store.create_session(name, f"/v/{name}.mp4", "video", 1.0, "m", {"sample_fps": 1.0})
            store.add_minute(ids[name], minute(0))
            store.finish_session(ids[name], "completed", media_duration_s=60.0)
    return ids


@pytest.fixture()
def db(tmp_path: Path, engage_home: Path) -> Path:
    return tmp_path / "engage.db"


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two real face images: the quickest source `engage analyze` takes."""
    from skimage import data

    folder = tmp_path_factory.mktemp("faces")
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    for i in range(2):
        cv2.imwrite(str(folder / f"{i}.png"), face)
    return folder


# ------------------------------------------------------------------------------------------- 1, 2: printing


def test_markup_in_a_name_or_path_prints_as_typed_and_never_breaks_the_database(face_folder, db):
    analysed = engage("analyze", str(face_folder), "--name", "[/]", "--db", str(db))
    assert analysed.returncode == 0, analysed.stderr
    assert "session #1 '[/]'" in analysed.stdout and "Traceback" not in analysed.stderr
    missing = engage("analyze", "x[/].mp4", "--db", str(db))
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no such file or folder: x[/].mp4"
    seed(db, "[img]", "[b]x[/b]")
    for args in (("sessions",), ("show", "1"), ("show", "[/]"), ("show", "[img]"), ("export", "sheets", "--status")):
        result = run_main(*args, "--db", str(db))
        assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    listed = run_main("sessions", "--db", str(db)).stdout
    assert "[/]" in listed and "[img]" in listed and "[b]x[/b]" in listed
    assert run_main("show", "[img]", "--db", str(db)).stdout.startswith("session #2 '[img]'")


def test_a_name_pattern_with_markup_names_sessions_as_typed(face_folder, db, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", 3, fps=2, size=(320, 240), faces=1)
    result = engage("batch", str(clip), "--name-pattern", "[/]{stem}", "--workers", "1", "--db", str(db))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "[/]clip" in result.stdout
    assert [s["name"] for s in json.loads(run_main("sessions", "--db", str(db), "--json").stdout)] == ["[/]clip"]
    for pattern in ("{stem.__class__}", "{stem:>999999999}", "{", "{nope}"):
        assert "name pattern" in one_line_error(
            run_main("batch", str(clip), "--name-pattern", pattern, "--db", str(db))
        )


def test_terminal_escapes_and_line_breaks_in_names_are_shown_escaped(db):
    seed(db, RED, "two\nlines", "\u202eevil")
    for args in (("sessions",), ("show", RED), ("show", "two\nlines")):
        result = run_main(*args, "--db", str(db))
        assert result.code == 0, result.stderr
        assert "\x1b" not in result.stdout + result.stderr and "\u202e" not in result.stdout
    assert run_main("show", RED, "--db", str(db)).stdout.startswith("session #1 '\\x1b[31mRED\\x1b[0m'")
    assert run_main("show", "two\nlines", "--db", str(db)).stdout.startswith("session #2 'two\\nlines'")
    line = one_line_error(run_main("show", "gone\x1b[2J\nand more", "--db", str(db)))
    assert line == "error: no session 'gone\\x1b[2J\\nand more'; run `engage sessions` to list them"
    # JSON keeps the name exactly (escaped the JSON way, so a terminal shows no escape either).
    listed = run_main("sessions", "--db", str(db), "--json").stdout
    assert "\x1b" not in listed and RED in [s["name"] for s in json.loads(listed)]


def test_a_name_of_undecodable_bytes_is_stored_readably(face_folder, db):
    result = engage("analyze", str(face_folder), "--name", os.fsdecode(b"week\xff"), "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert [s["name"] for s in json.loads(run_main("sessions", "--db", str(db), "--json").stdout)] == ["week\ufffd"]


# ------------------------------------------------------------------------------------ 3, 4: files and databases


def test_config_files_in_utf16_work_and_other_encodings_are_one_line(db, tmp_path):
    seed(db, "lecture")
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes("sheets:\n  spreadsheet: 1Utf16Key\n".encode("utf-16"))
    status = run_main("export", "sheets", "--status", "--json", "--config", str(utf16), "--db", str(db))
    assert status.code == 0 and json.loads(status.stdout)["spreadsheet"] == "1Utf16Key", status.stderr
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("sheets:\n  worksheet: Résumé\n".encode("latin-1"))
    line = one_line_error(run_main("export", "sheets", "--status", "--config", str(latin1), "--db", str(db)))
    assert f"config file {latin1} is not UTF-8 text" in line
    folder = tmp_path / "a-folder.yaml"
    folder.mkdir()
    assert "not a regular file" in one_line_error(run_main("purge", "--config", str(folder), "--db", str(db)))


@pytest.mark.parametrize("size", [8192, 20000])
def test_a_damaged_database_is_one_line_in_every_command(face_folder, db, size):
    seed(db, "lecture", "another")
    with open(db, "r+b") as f:
        f.truncate(size)
    for args in (("sessions",), ("show", "1"), ("export", "1", "--format", "json"), ("analyze", str(face_folder))):
        line = one_line_error(run_main(*args, "--db", str(db)))
        assert "damaged" in line or "not an engage database" in line, line


def test_damage_sqlite_only_meets_when_writing_is_found_before_writing(face_folder, db):
    seed(db, "lecture")
    before = db.read_bytes()
    with open(db, "r+b") as f:
        f.seek(32)  # the header's first free-list page: with no free pages, reads never look at it
        f.write(b"\x01")
    # Reading still works (what was recorded stays readable); writing is refused before anything is written.
    assert run_main("sessions", "--db", str(db), "--json").code == 0
    line = one_line_error(run_main("analyze", str(face_folder), "--db", str(db)))
    assert "database file is damaged (Main freelist: invalid page number" in line and ".recover" in line
    assert db.read_bytes()[:32] == before[:32] and db.stat().st_size == len(before)


@pytest.mark.parametrize("database", ["sqlite://", ":memory:", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_rather_than_lost(face_folder, database, engage_home):
    for args in (("analyze", str(face_folder)), ("sessions",), ("db", "upgrade")):
        assert "in-memory database" in one_line_error(run_main(*args, "--db", database))
    assert "in-memory" in one_line_error(run_main("sessions", env={"ENGAGE_DATABASE": database}))


# ------------------------------------------------------------------------------------------------- 5, 7: exports


@pytest.mark.parametrize("fmt", ["csv", "parquet", "json"])
def test_export_to_a_place_that_cannot_be_written_is_one_line(db, tmp_path, fmt):
    seed(db, "lecture")
    fifo = tmp_path / "nobody-reads.fifo"
    os.mkfifo(fifo)
    for target, reason in (
        (fifo, "nothing reads from it"),  # (it waited for a reader forever)
        (tmp_path / "no" / "such" / "folder" / f"x.{fmt}", "no such folder"),
        (tmp_path, "it is a folder"),
        (Path("/proc/version"), "cannot write /proc/version"),
    ):
        line = one_line_error(run_main("export", "1", "--format", fmt, "-o", str(target), "--db", str(db)))
        assert reason in line, line


def test_csv_export_never_holds_a_live_formula(db, tmp_path):
    ids = seed(db, *FORMULAS)
    for name, sid in ids.items():
        out = tmp_path / f"{sid}.csv"
        assert run_main("export", str(sid), "--format", "csv", "-o", str(out), "--db", str(db)).code == 0
        (row,) = csv.DictReader(io.StringIO(out.read_text()))
        assert row["session_name"] == "'" + name  # shown as typed, as text
        assert float(row["valence"]) == -0.25  # numbers stay numbers, negative ones too
        stdout = run_main("export", str(sid), "--format", "csv", "--db", str(db)).stdout
        assert stdout == out.read_text()
    # JSON and Parquet are data, not spreadsheets: the name is kept exactly.
    shown = json.loads(run_main("export", str(ids[FORMULAS[0]]), "--format", "json", "--db", str(db)).stdout)
    assert shown["name"] == FORMULAS[0]


# ----------------------------------------------------------------------------------------- 6, 12: odd files


def test_classify_refuses_a_fifo_at_once(tmp_path):
    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    result = run_main("classify", str(fifo), timeout=30)
    assert result.code == 1 and result.lines()[0] == f"error: {fifo}: not a regular file"


def test_classify_of_broken_images_prints_only_its_own_lines(tmp_path, astronaut_bgr):
    paths = []
    for ext in (".png", ".jpg", ".webp"):
        ok, encoded = cv2.imencode(ext, astronaut_bgr)
        data = bytearray(encoded.tobytes())
        cut = tmp_path / f"cut{ext}"
        cut.write_bytes(bytes(data[: len(data) // 2]))
        data[300:700] = bytes(400)
        damaged = tmp_path / f"damaged{ext}"
        damaged.write_bytes(bytes(data))
        paths += [cut, damaged]
    result = engage("classify", *map(str, paths), "--json")
    assert "libpng" not in result.stderr and "Corrupt JPEG" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith(("error: ", "wrote ")) or ": no face found" in line, line


def test_record_of_a_truncated_file_prints_no_ffmpeg_lines(tmp_path, db):
    clip = truncate(make_clip(tmp_path / "long.mkv", 30, fps=4, size=(320, 240), faces=1), 0.5, tmp_path / "cut.mkv")
    result = engage("record", "--source", str(clip), "--speed", "20", "--db", str(db))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if " @ 0x" in line or line.startswith("[")], result.stderr
    assert "error: video ended at" in result.stderr


# ------------------------------------------------------------------------------------------------- 8: secrets


def test_secrets_are_never_stored_or_printed(face_folder, db, tmp_path):
    secret = "Dash-Secret-71"
    env = {"ENGAGE_DASHBOARD__USERNAME": "prof", "ENGAGE_DASHBOARD__PASSWORD": secret}
    analysed = run_main("analyze", str(face_folder), "--json", "--db", str(db), env=env)
    assert analysed.code == 0, analysed.stderr
    out = tmp_path / "s.json"
    outputs = [
        analysed.stdout + analysed.stderr,
        run_main("sessions", "--json", "--db", str(db), env=env).stdout,
        run_main("show", "1", "--json", "--db", str(db), env=env).stdout,
        run_main("export", "1", "--format", "json", "--db", str(db), env=env).stdout,
    ]
    assert run_main("export", "1", "--format", "json", "-o", str(out), "--db", str(db), env=env).code == 0
    outputs.append(out.read_text())
    for text in outputs:
        assert secret not in text
    assert json.loads(outputs[2])["config"]["dashboard"]["password"] == "***"
    wal = Path(f"{db}-wal")
    assert secret.encode() not in db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    with sqlite3.connect(db) as con:
        dump = "\n".join(con.iterdump())
    con.close()
    assert secret not in dump


def test_the_store_masks_secrets_whoever_hands_them_over(db):
    leaky = {"database": "postgresql+psycopg://engage:Pg-Secret-5@dbhost/engage", "dashboard": {"password": "Dash-6"}}
    with open_store(db) as store:
        sid = store.create_session("s", "v.mp4", "video", 1.0, "m", leaky)
        assert store.get_session(sid).config == {
            "database": "postgresql+psycopg://engage:***@dbhost/engage",
            "dashboard": {"password": "***"},
        }
    with sqlite3.connect(db) as con:
        dump = "\n".join(con.iterdump())
    con.close()
    assert "Pg-Secret-5" not in dump and "Dash-6" not in dump


def test_a_database_urls_password_is_never_stored_or_printed(face_folder, tmp_path, engage_home):
    from postgres import new_database, postgres_server, why_not

    if why_not():
        pytest.skip(why_not())
    secret = "Pg-Secret-42"
    with postgres_server() as server:
        url = new_database(server).replace("engage@", f"engage:{secret}@")  # trust auth: any password works
        analysed = run_main("analyze", str(face_folder), "--json", "--db", url)
        assert analysed.code == 0, analysed.stderr
        texts = [analysed.stdout, analysed.stderr]
        for args in (("sessions", "--json"), ("show", "1", "--json"), ("export", "1", "--format", "json")):
            result = run_main(*args, "--db", url)
            texts += [result.stdout, result.stderr]
        assert [text for text in texts if secret in text] == []
        with open_store(url) as store:
            stored = store.get_session(1).config
        assert stored["database"].endswith(":***@" + url.split("@", 1)[1])
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
            rows = connection.execute("SELECT name, source, config_json, status_detail FROM sessions").fetchall()
        assert secret not in repr(rows)
        bad = run_main("sessions", "--db", url.replace("127.0.0.1", "[::1"))
        assert secret not in bad.stderr and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------------------------- the entry point


def test_database_urls_that_are_not_addresses_are_one_line(engage_home):
    for url in ("sqlite://127.0.0.1:x/0", "postgresql+psycopg://u:Secret-3@\udc80x:1/db", "postgresql://u@[bad/db"):
        line = one_line_error(run_main("sessions", "--db", url))
        assert "database" in line and "Secret-3" not in line, line
    # ENGAGE_DEBUG is not a config key (it asks for tracebacks).
    assert run_main("sessions", "--db", str(engage_home / "x.db"), env={"ENGAGE_DEBUG": "1"}).code == 0


def test_usage_errors_are_one_line(db):
    assert one_line_error(run_main("[/]")) == "error: No such command '[/]'. (see `engage --help`)"
    assert "--bogus" in one_line_error(run_main("show", "1", "--bogus", "--db", str(db)))
    assert "'--camera'" in one_line_error(run_main("record", "--camera", "x"))
    assert run_main("show", "1", "--bogus").code == 2


def test_an_unexpected_error_is_one_line_that_says_how_to_see_more(db, monkeypatch):
    import engage.cli.data as data

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(data, "setup_read_only", broken)
    line = one_line_error_allowing_bugs(run_main("sessions", "--db", str(db)))
    assert line == (
        "error: unexpected ZeroDivisionError: boom (a bug in engage: rerun with ENGAGE_DEBUG=1 for the traceback "
        "and report it)"
    )
    with pytest.raises(ZeroDivisionError):
        run_main("sessions", "--db", str(db), env={"ENGAGE_DEBUG": "1"})


def one_line_error_allowing_bugs(result) -> str:
    assert result.code == 1 and "Traceback" not in result.stderr
    (line,) = result.lines()
    return line


def test_a_closed_pipe_ends_quietly(db):
    seed(db, *(f"lecture {i}" for i in range(400)))
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    writer = subprocess.run(
        [sys.executable, "-m", "engage", "sessions", "--json", "--db", str(db)],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    reader.stdin.close()
    reader.wait(timeout=10)
    assert "Traceback" not in writer.stderr and "Exception ignored" not in writer.stderr, writer.stderr


def test_stray_values_in_numbers_are_not_ids(db):
    seed(db, "lecture")
    for ref in ("²", "\u0661", "99999999999999999999999999", "1.0"):
        assert "no session" in one_line_error(run_main("show", ref, "--db", str(db)))
