"""Property tests: whatever a user types or hands over, engage answers with one clear line or does the job.

Over session names, name patterns, paths, config values, URLs, and random bytes given as a video, an image, a
config file and a database, every command run through engage.cli.main (tests/cli_main.py) must: print no
traceback, fail with exactly one `error:` line and a non-zero exit (or succeed), finish within its time (a
hang fails), print no terminal control character, leave the database intact (PRAGMA integrity_check), and
print or store no secret. Example counts follow the Hypothesis profile (tests/conftest.py): fixed in CI,
more by hand (HYPOTHESIS_PROFILE=thorough for a long run).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from cli_main import Result, run_main  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engage.safetext import printable, spreadsheet_text  # noqa: E402
from engage.store.database import open_store  # noqa: E402

SECRET = "Pw-7f3kQ-secret"  # a password that must never be printed or stored
ENV = {"ENGAGE_DASHBOARD__USERNAME": "prof", "ENGAGE_DASHBOARD__PASSWORD": SECRET}
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")  # \t and \n are fine
TIMEOUT_S = 30.0


def examples(n: int) -> int:
    """`n` examples in CI (profile "ci", 20 by default), scaled with the profile's count elsewhere."""
    return max(1, round(n * settings.default.max_examples / 20))


# Text as a shell can pass it: any character but NUL, with the ones that broke engage before made likely.
TRICKY = ["[/]", "[img]", "[b]", "\x1b[31m", "\x1b]8;;", "\n", "\r", "\u202e", "=", "+", "-", "@", "{", "}", "²", "%"]
ARG_TEXT = (
    st.lists(
        st.one_of(st.text(st.characters(exclude_categories=["Cs"])), st.sampled_from(TRICKY)), min_size=1, max_size=6
    )
    .map("".join)
    .map(lambda text: text.replace("\x00", ""))  # argv cannot hold a NUL
    .filter(bool)
)
UNDECODABLE = st.binary(min_size=1, max_size=8).map(os.fsdecode)  # bytes the OS hands over as surrogate escapes


# ---------------------------------------------------------------------------------------------- checking


def check(result: Result, *, db: Path | None = None, ok: bool | None = None) -> None:
    """The properties every command keeps, whatever its input."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, result.stderr
    assert "a bug in engage" not in result.stderr, result.stderr
    assert SECRET not in text
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    if result.code != 0:
        lines = result.lines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    if ok is not None:
        assert (result.code == 0) == ok, result.stderr
    if db is not None:
        intact(db)


def intact(db: Path) -> None:
    if not db.is_file() or db.stat().st_size == 0:
        return
    with contextlib.closing(sqlite3.connect(db)) as con:
        con.text_factory = lambda raw: raw.decode("utf-8", "replace")  # random bytes may sit in the schema text
        try:
            verdict = con.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError:
            return  # not a database at all (the input was random bytes): engage must not have made it one
        assert verdict == [("ok",)], verdict
        dump = "\n".join(con.iterdump())
    assert SECRET not in dump


def run(*args: str, env: dict | None = None) -> Result:
    return run_main(*args, env={**ENV, **(env or {})}, timeout=TIMEOUT_S)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per example (Hypothesis runs many examples in one test function)."""
    folder = Path(tempfile.mkdtemp(prefix="engage-prop-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """A folder with one real face image: the quickest real source `engage analyze` takes."""
    import cv2
    from skimage import data

    folder = tmp_path_factory.mktemp("faces")
    cv2.imwrite(str(folder / "0.png"), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:240, 120:330])
    return folder


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, faces) -> Path:
    """A real database with one analysed session (its stored config made with the secret set)."""
    db = tmp_path_factory.mktemp("seeded") / "engage.db"
    result = run("analyze", str(faces), "--name", "lecture", "--db", str(db))
    assert result.code == 0, result.stderr
    return db


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("ENGAGE_HOME", str(home / "engage"))
    monkeypatch.setenv("HOME", str(home))  # "~/..." in a generated path stays in here


# --------------------------------------------------------------------------------------------- names


@settings(max_examples=examples(15))
@given(name=st.one_of(ARG_TEXT, UNDECODABLE))
def test_any_session_name_is_stored_shown_and_exported_as_text(faces, name):
    with scratch() as folder:
        db = folder / "engage.db"
        analysed = run("analyze", str(faces), "--name", name, "--db", str(db), "--json")
        check(analysed, db=db)
        if analysed.code != 0:  # a name that looks like an option ("--db"): a usage error, one line
            return
        stored = json.loads(analysed.stdout)["session"]["name"]
        shown = run("show", "1", "--db", str(db))
        check(shown, ok=True)
        assert shown.stdout.startswith(f"session #1 '{printable(stored)}'")
        by_name = run("show", stored, "--db", str(db))
        check(by_name)
        check(run("sessions", "--db", str(db)), ok=True)
        out = folder / "s.csv"  # (to a pipe or a file a CSV carries the name exactly; a terminal sees it escaped)
        check(run("export", "1", "--format", "csv", "-o", str(out), "--db", str(db)), ok=True, db=db)
        (row,) = csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline=""))
        assert row["session_name"] == spreadsheet_text(stored)
        assert not row["session_name"].startswith(("=", "+", "-", "@", "\t", "\r"))


@settings(max_examples=examples(40))
@given(pattern=ARG_TEXT)
def test_any_name_pattern_is_one_line_or_a_bounded_name(pattern):
    from engage.errors import EngageError
    from engage.runs.batch_inputs import MAX_NAME_CHARS, check_name_pattern, session_name

    try:
        check_name_pattern(pattern)
    except EngageError as exc:
        assert "\n" not in str(exc) and "name pattern" in str(exc)
        return
    name = session_name(Path("/videos/week 1/lecture.mp4"), 3, pattern)
    assert isinstance(name, str) and len(name) <= MAX_NAME_CHARS


@settings(max_examples=examples(5))
@given(pattern=st.sampled_from(["{stem.__class__}", "{", "{stem:>999999999}", "[/]{x}", "{index!r}", "{0}"]))
def test_bad_name_patterns_stop_a_batch_in_one_line(faces, pattern):
    with scratch() as folder:
        check(run("batch", str(faces / "0.png"), "--name-pattern", pattern, "--db", str(folder / "e.db")), ok=False)


# --------------------------------------------------------------------------------------------- paths

SPECIAL_PATHS = [
    "/proc/version",
    "/dev/null",
    "/dev/zero",
    "/",
    "/etc/passwd",
    "/nonexistent/x.mp4",
    ".",
    "..",
    "~",
    "~/missing.db",
    "fifo",
    "folder",
    "file.txt",
]
PATHS = st.one_of(ARG_TEXT.filter(lambda p: not p.startswith(("/", "-"))), st.sampled_from(SPECIAL_PATHS))


@contextlib.contextmanager
def in_folder(folder: Path) -> Iterator[None]:
    """Relative paths land in `folder`, which holds a FIFO, a folder and a text file to be named."""
    os.mkfifo(folder / "fifo")
    (folder / "folder").mkdir()
    (folder / "file.txt").write_text("not a video, an image, a config or a database")
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


@settings(max_examples=examples(40))
@given(path=PATHS, command=st.sampled_from(["analyze", "classify", "export", "config", "db", "dashboard-db"]))
def test_any_path_is_one_line_or_works(seeded, path, command):
    with scratch() as folder, in_folder(folder):
        db = folder / "copy.db"
        shutil.copy(seeded, db)
        args = {
            "analyze": ("analyze", path, "--db", str(db)),
            "classify": ("classify", path),
            "export": ("export", "1", "--format", "csv", "-o", path, "--db", str(db)),
            "config": ("export", "sheets", "--status", "--config", path, "--db", str(db)),
            "db": ("show", "1", "--db", path),
            "dashboard-db": ("sessions", "--db", path),
        }[command]
        result = run(*args)
        if command == "classify":  # a line per file that could not be read, then the count
            assert all(line.startswith("error: ") for line in result.lines()), result.stderr
            result.stderr = result.lines()[-1] + "\n" if result.lines() else ""
        check(result, db=db)
        if command in ("db", "dashboard-db") and Path(path).is_file():
            intact(Path(path))


# --------------------------------------------------------------------------------- config values and URLs

KEYS = [
    "sample_fps",
    "database",
    "detector.name",
    "detector.min_face",
    "engagement.high_band",
    "engagement.low_band",
    "engagement.weights",
    "privacy.min_faces",
    "sheets.spreadsheet",
    "sheets.worksheet",
    "sheets.credentials",
    "dashboard.port",
    "dashboard.password",
    "nonsense",
    "detector.nonsense",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    ARG_TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["neutral", "happy", "joy", "x"]), st.floats(-1, 2), max_size=3),
)


def nested(key: str, value: object) -> dict:
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {name: value}


@settings(max_examples=examples(40))
@given(values=st.lists(st.tuples(st.sampled_from(KEYS), SCALARS), min_size=1, max_size=4))
def test_any_config_file_is_one_line_or_works(seeded, values):
    import yaml

    merged: dict = {}
    for key, value in values:
        part = nested(key, value)
        for section, inner in part.items():
            if isinstance(inner, dict) and isinstance(merged.get(section), dict):
                merged[section].update(inner)
            else:
                merged[section] = inner
    with scratch() as folder:
        config = folder / "c.yaml"
        config.write_text(yaml.safe_dump(merged, allow_unicode=True))
        check(run("export", "sheets", "--status", "--config", str(config), "--db", str(seeded)), db=seeded)


@settings(max_examples=examples(30))
@given(key=st.sampled_from(KEYS + ["", "__", "sample_fps__x", "Sample_FPS"]), raw=ARG_TEXT)
def test_any_environment_value_is_one_line_or_works(seeded, key, raw):
    name = "ENGAGE_" + key.upper().replace(".", "__")
    assume(name not in ("ENGAGE_HOME", "ENGAGE_DATABASE"))  # (where the database is: the URL test below)
    check(run("sessions", "--db", str(seeded), env={name: raw}), db=seeded)


URLS = st.builds(
    "{}://{}{}{}/{}".format,
    st.sampled_from(["sqlite", "postgresql+psycopg", "postgresql", "mysql", "nope", "rtsp", "ftp", "sqlite+nope"]),
    st.sampled_from(["", "user@", f"user:{SECRET}@", f":{SECRET}@", f"u:{SECRET}@["]),
    st.sampled_from(["127.0.0.1", "[::1]", "", "[bad"]),
    st.sampled_from(["", ":1", ":99999", ":x"]),
    ARG_TEXT,
)


@settings(max_examples=examples(30))
@given(url=URLS, command=st.sampled_from(["sessions", "analyze", "db"]))
def test_any_url_is_one_line_and_never_shows_its_password(faces, url, command):
    with scratch() as folder, in_folder(folder):
        args = {
            "sessions": ("sessions", "--db", url),
            "analyze": ("analyze", url, "--db", str(folder / "e.db")),
            "db": ("db", "upgrade", "--db", url),
        }[command]
        if command == "analyze":
            assume(not url.startswith("rtsp"))  # a stream is waited for (recorder.stream_timeout_s), not refused
        check(run(*args))


# ------------------------------------------------------------------------------------ random bytes as files


def mutate(data: bytes, cuts: list[tuple[int, bytes]], truncate_at: float | None) -> bytes:
    out = bytearray(data)
    for position, chunk in cuts:
        at = position % max(len(out), 1)
        out[at : at + len(chunk)] = chunk
    if truncate_at is not None:
        out = out[: int(len(out) * truncate_at)]
    return bytes(out)


MUTATIONS = st.tuples(
    st.lists(st.tuples(st.integers(0, 10**7), st.binary(min_size=1, max_size=64)), max_size=4),
    st.one_of(st.none(), st.floats(0, 1)),
)


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory) -> bytes:
    from clips import make_clip

    return make_clip(tmp_path_factory.mktemp("clip") / "c.mp4", 4, fps=2, size=(160, 120), faces=1).read_bytes()


@settings(max_examples=examples(15))
@given(data=st.one_of(st.binary(max_size=4096), st.just(None)), mutation=MUTATIONS)
def test_any_bytes_as_a_video(small_clip, data, mutation):
    with scratch() as folder:
        video, db = folder / "lecture.mp4", folder / "engage.db"
        video.write_bytes(data if data is not None else mutate(small_clip, *mutation))
        check(run("analyze", str(video), "--db", str(db)), db=db)


@pytest.fixture(scope="module")
def photo_bytes() -> dict[str, bytes]:
    import cv2
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[0:240, 120:330]
    return {ext: cv2.imencode(ext, face)[1].tobytes() for ext in (".png", ".jpg", ".webp", ".bmp", ".tif")}


@settings(max_examples=examples(20))
@given(ext=st.sampled_from([".png", ".jpg", ".webp", ".bmp", ".tif"]), raw=st.binary(max_size=2048), mutation=MUTATIONS)
def test_any_bytes_as_an_image(photo_bytes, ext, raw, mutation):
    with scratch() as folder:
        image = folder / f"photo{ext}"
        image.write_bytes(raw if len(raw) % 3 == 0 else mutate(photo_bytes[ext], *mutation))
        result = run("classify", str(image), "--json")
        text = result.stdout + result.stderr
        assert "Traceback" not in text and "a bug in engage" not in text and not CONTROL.search(text)
        for line in result.lines():  # one line per file that failed, and the summary
            assert line.startswith("error: ") or ": no face found" in line, result.stderr


@settings(max_examples=examples(25))
@given(raw=st.binary(max_size=2048), encoding=st.sampled_from([None, "utf-16", "latin-1", "utf-8-sig"]))
def test_any_bytes_as_a_config_file(seeded, raw, encoding):
    with scratch() as folder:
        config = folder / "c.yaml"
        if encoding is None:
            config.write_bytes(raw)
        else:
            config.write_bytes(raw.decode("latin-1").encode(encoding, errors="replace"))
        check(run("export", "sheets", "--status", "--config", str(config), "--db", str(seeded)), db=seeded)


@settings(max_examples=examples(20))
@given(
    raw=st.one_of(st.binary(max_size=8192), st.just(None)),
    mutation=MUTATIONS,
    command=st.sampled_from(["sessions", "show", "export", "analyze", "purge"]),
)
def test_any_bytes_as_a_database(seeded, faces, raw, mutation, command):
    with scratch() as folder:
        db = folder / "engage.db"
        db.write_bytes(raw if raw is not None else mutate(seeded.read_bytes(), *mutation))
        args = {
            "sessions": ("sessions",),
            "show": ("show", "1"),
            "export": ("export", "1", "--format", "json"),
            "analyze": ("analyze", str(faces)),
            "purge": ("purge", "--days", "1"),
        }[command]
        result = run(*args, "--db", str(db))
        check(result)
        if result.code == 0 and command in ("analyze", "purge"):
            intact(db)  # what engage wrote to is a sound database


def test_a_store_opened_on_random_bytes_never_raises_anything_but_engage_errors(tmp_path):
    from engage.errors import EngageError

    db = tmp_path / "x.db"
    db.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    with pytest.raises(EngageError):
        open_store(db).list_sessions()
