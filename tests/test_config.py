from pathlib import Path

import pytest

from engage.config import load_config
from engage.errors import EngageError


def test_defaults_come_from_config_yaml():
    config = load_config(environ={})
    assert config.sample_fps == 1.0
    assert config.privacy.min_faces == 1
    assert config.engagement.weights["neutral"] == 0.9
    assert config.detector.name in {"yunet", "haar"}


def test_precedence_flags_over_environment_over_file(tmp_path: Path):
    file = tmp_path / "c.yaml"
    file.write_text("sample_fps: 2\nprivacy:\n  min_faces: 4\n")
    assert load_config(file, environ={}).sample_fps == 2
    assert load_config(file, environ={}).privacy.min_faces == 4
    assert load_config(file, environ={}).privacy.retention_days == 365  # untouched keys keep defaults
    env = {"ENGAGE_SAMPLE_FPS": "3", "ENGAGE_PRIVACY__MIN_FACES": "5"}
    assert load_config(file, environ=env).sample_fps == 3
    assert load_config(file, environ=env).privacy.min_faces == 5
    assert load_config(file, {"sample_fps": 0.5}, environ=env).sample_fps == 0.5
    assert load_config(file, {"sample_fps": None}, environ=env).sample_fps == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sample_fsp: 2\n", "unknown config key 'sample_fsp'"),
        ("privacy:\n  min_face: 3\n", "unknown config key 'privacy.min_face'"),
        ("sample_fps: fast\n", "config key 'sample_fps'"),
        ("privacy:\n  min_faces: '3'\n", "config key 'privacy.min_faces'"),
        ("sample_fps: -1\n", "config key 'sample_fps'"),
        ("detector:\n  name: magic\n", "config key 'detector.name'"),
        ("engagement:\n  weights: {joy: 1}\n", "config key 'engagement.weights'"),
        ("- a list\n", "must hold a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(tmp_path: Path, text: str, message: str):
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(EngageError) as info:
        load_config(file, environ={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(file) in str(info.value)


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(EngageError, match="config file not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_environment_errors_name_the_environment():
    with pytest.raises(EngageError, match="environment"):
        load_config(environ={"ENGAGE_SAMPLE_FPS": "fast"})
    with pytest.raises(EngageError, match="unknown config key 'colour'"):
        load_config(environ={"ENGAGE_COLOUR": "red"})
    assert load_config(environ={"ENGAGE_DATA": "/somewhere"}).sample_fps == 1.0


# ------------------------------------------------------------------- encodings, odd files, the environment


def test_a_config_file_in_utf16_or_utf8_with_a_bom_is_read(tmp_path: Path):
    text = "sample_fps: 2.5\nsheets:\n  worksheet: Résumé\n"
    for encoding, data in (
        ("utf-16", text.encode("utf-16")),  # with the byte-order mark Windows Notepad writes
        ("utf-16-be", ("\ufeff" + text).encode("utf-16-be")),
        ("utf-8-sig", text.encode("utf-8-sig")),
    ):
        file = tmp_path / f"{encoding}.yaml"
        file.write_bytes(data)
        config = load_config(file, environ={})
        assert (config.sample_fps, config.sheets.worksheet) == (2.5, "Résumé")


def test_a_config_file_in_latin1_is_one_line_naming_it(tmp_path: Path):
    file = tmp_path / "latin1.yaml"
    file.write_bytes("sheets:\n  worksheet: Résumé\n".encode("latin-1"))
    with pytest.raises(EngageError) as info:
        load_config(file, environ={})
    assert str(info.value) == f"config file {file} is not UTF-8 text (byte 22); save it as UTF-8"


def test_config_paths_that_are_not_files(tmp_path: Path):
    import os

    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    for path in (fifo, tmp_path):
        with pytest.raises(EngageError, match="is not a regular file"):
            load_config(path, environ={})
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    with pytest.raises(EngageError, match="over 1024 KB"):
        load_config(huge, environ={})
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(EngageError, match=str(deep)):
        load_config(deep, environ={})


def test_environment_values_keep_their_text_unless_they_are_flow_yaml():
    assert load_config(environ={"ENGAGE_DATABASE": "sqlite:///x.db:"}).database == "sqlite:///x.db:"
    weights = "{neutral: 1, happy: 1, surprise: 1, sad: 1, fear: 1, angry: 1, disgust: 0.5}"
    assert load_config(environ={"ENGAGE_ENGAGEMENT__WEIGHTS": weights}).engagement.weights["disgust"] == 0.5
    with pytest.raises(EngageError, match="ENGAGE_SAMPLE_FPS__X sets a key inside sample_fps"):
        load_config(environ={"ENGAGE_SAMPLE_FPS": "1", "ENGAGE_SAMPLE_FPS__X": "2"})


# --------------------------------------------------------------------------------------- validation values


@pytest.mark.parametrize(("high", "low"), [(0.5, 0.5), (0.3, 0.7), (0.0, 0.0)])
def test_bands_out_of_order_are_refused(high: float, low: float):
    with pytest.raises(EngageError, match=r"low_band \(.*\) must be below high_band"):
        load_config(overrides={"engagement": {"high_band": high, "low_band": low}}, environ={})


# (key, values accepted, values refused): every bound of every constrained key, on and just past the edge.
BOUNDS = [
    ("sample_fps", [60, 0.001], [0, 60.001]),
    ("detector.name", ["yunet", "haar"], ["YuNet", "mtcnn"]),
    ("detector.min_face", [1], [0]),
    ("detector.score_threshold", [0, 1], [-0.01, 1.01]),
    ("detector.max_side", [64], [63]),
    ("detector.fast_side", [0], [-1]),
    ("detector.check_every", [1], [0]),
    ("detector.margin", [0, 1], [-0.01, 1.01]),
    ("detector.upscale", [1, 4], [0.99, 4.01]),
    ("detector.small_frame", [0], [-1]),
    ("detector.small_face", [0], [-1]),
    ("detector.follow", [True, False], ["yes", 1]),
    ("detector.sweep_min", [1, 12], [0]),
    ("detector.sweep_max", [2, 1000], [1001]),
    ("detector.region_face", [16, 256], [15, 257]),
    ("detector.region_pad", [1.2, 4], [1.19, 4.01]),
    ("detector.region_threshold", [0, 1], [-0.01, 1.01]),
    ("classifier.threads", [1], [0]),
    ("engagement.high_band", [1], [1.01]),
    ("engagement.low_band", [0], [-0.01]),
    ("privacy.min_faces", [1], [0]),
    ("privacy.retention_days", [0], [-1]),
    ("recorder.reconnect_s", [0, 86400], [-0.1, 86400.1]),
    ("recorder.stream_timeout_s", [0.01, 600], [0, 600.1]),
    ("sheets.worksheet", ["w", "w" * 100], ["", "w" * 101]),
    ("sheets.summary_worksheet", ["s", "s" * 100], ["", "s" * 101]),
    ("sheets.layout", ["table", "per_session"], ["tabs"]),
    ("sheets.interval_s", [1, 3600], [0.99, 3600.1]),
    ("sheets.writes_per_minute", [1, 300], [0, 301]),
    ("sheets.reads_per_minute", [1, 300], [0, 301]),
    ("sheets.max_retries", [0, 10], [-1, 11]),
    ("sheets.timeout_s", [0.01, 600], [0, 600.1]),
    ("dashboard.port", [1, 65535], [0, 65536]),
    ("dashboard.refresh_seconds", [0.01], [0]),
]


def _nested(key: str, value: object) -> dict:
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {name: value}


@pytest.mark.parametrize(("key", "good", "bad"), BOUNDS, ids=[b[0] for b in BOUNDS])
def test_every_bound_is_where_the_docs_say(key: str, good: list, bad: list):
    for value in good:
        config = load_config(overrides=_nested(key, value), environ={})
        section, _, name = key.rpartition(".")
        assert getattr(getattr(config, section) if section else config, name) == value
    for value in bad:
        with pytest.raises(EngageError, match=f"config key '{key}'"):
            load_config(overrides=_nested(key, value), environ={})


def test_sweep_interval_bounds_must_be_in_order():
    with pytest.raises(EngageError, match=r"sweep_min \(13\) must not be above sweep_max \(12\)"):
        load_config(overrides={"detector": {"sweep_min": 13}}, environ={})
    assert load_config(overrides={"detector": {"sweep_min": 5, "sweep_max": 5}}, environ={}).detector.sweep_min == 5


def test_model_defaults_are_config_yaml():
    from engage.config import Config

    defaults = Config().model_dump()
    shipped = load_config(environ={}).model_dump()
    assert defaults["engagement"]["weights"] == {}  # the weights live in config.yaml only
    defaults["engagement"]["weights"] = shipped["engagement"]["weights"]
    assert defaults == shipped


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"neutral": "high"}, "engagement.weights.neutral"),  # (a partial mapping is merged into config.yaml's)
        ({**dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), 1), "joy": 1}, "joy"),
        (dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), 0), "at least one > 0"),
        ({**dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise"), 1), "neutral": -0.1}, ">= 0"),
    ],
)
def test_weights_need_every_emotion_non_negative_and_one_positive(weights: dict, message: str):
    with pytest.raises(EngageError, match=message):
        load_config(overrides={"engagement": {"weights": weights}}, environ={})
    ok = {**dict.fromkeys(("angry", "disgust", "fear", "happy", "sad", "surprise"), 0), "neutral": 0.5}
    assert load_config(overrides={"engagement": {"weights": ok}}, environ={}).engagement.weights == ok


def test_error_messages_name_the_key_the_layer_and_how_many_more(tmp_path: Path):
    file = tmp_path / "c.yaml"
    file.write_text("sample_fps: 0\nprivacy:\n  min_faces: 0\n")
    with pytest.raises(EngageError) as info:
        load_config(file, environ={})
    assert str(info.value) == (f"config key 'sample_fps' in {file}: Input should be greater than 0 (and 1 more)")
    with pytest.raises(EngageError) as info:
        load_config(overrides={"detector": {"nmae": "x"}}, environ={})
    assert str(info.value) == "unknown config key 'detector.nmae' in the command line"
    file.write_text("")
    assert load_config(file, environ={}).sample_fps == 1.0  # an empty file changes nothing
    assert load_config(file, {"dashboard": {"password": 1234}}, environ={}).dashboard.password == "1234"
    assert load_config(environ={"ENGAGE_DASHBOARD__PASSWORD": "1234"}).dashboard.password == "1234"


# -------------------------------------------------------------------------------------------------- secrets


def test_the_stored_config_holds_no_secret():
    config = load_config(
        overrides={
            "database": "postgresql+psycopg://engage:pg-Secret@db.example/engage",
            "dashboard": {"username": "prof", "password": "dash-Secret"},
        },
        environ={},
    )
    stored = config.for_storage()
    assert "pg-Secret" not in repr(stored) and "dash-Secret" not in repr(stored)
    assert stored["database"] == "postgresql+psycopg://engage:***@db.example/engage"
    assert stored["dashboard"] == {**config.model_dump(mode="json")["dashboard"], "password": "***"}
    assert {k: v for k, v in stored.items() if k not in ("database", "dashboard")} == {
        k: v for k, v in config.model_dump(mode="json").items() if k not in ("database", "dashboard")
    }
    plain = load_config(environ={}).for_storage()
    assert plain == load_config(environ={}).model_dump(mode="json")  # nothing to hide: unchanged


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p%40ss@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://:secret@h/db", "postgresql://:***@h/db"),
        ("rtsp://cam:secret@10.0.0.5:bad/live", "rtsp://cam:***@10.0.0.5:bad/live"),
        ("rtsp://cam:secret@[bad/live", "rtsp://***@[bad/live"),
        ("/plain/path/x.db", "/plain/path/x.db"),
        ("sqlite:///a@b.db", "sqlite:///a@b.db"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, shown: str):
    from engage.safetext import mask_password

    assert mask_password(url) == shown


# ----------------------------------------------------------------------------- exact messages (mutation tests)


def test_environment_parsing_keeps_going_and_keeps_text_that_is_not_yaml(monkeypatch: pytest.MonkeyPatch):
    # A variable that is not configuration (ENGAGE_HOME) is skipped, and the ones after it still count.
    assert load_config(environ={"ENGAGE_HOME": "/x", "ENGAGE_SAMPLE_FPS": "2"}).sample_fps == 2
    assert load_config(environ={"ENGAGE_SHEETS__WORKSHEET": "a: b: c"}).sheets.worksheet == "a: b: c"  # not YAML
    weights = " {neutral: 1, happy: 1, surprise: 1, sad: 1, fear: 1, angry: 1, disgust: 0.25}"  # a leading space
    assert load_config(environ={"ENGAGE_ENGAGEMENT__WEIGHTS": weights}).engagement.weights["disgust"] == 0.25
    with pytest.raises(EngageError, match="config key 'sheets.worksheet' in the environment"):
        load_config(environ={"ENGAGE_SHEETS__WORKSHEET": "[1, 2]"})  # flow YAML: a list, not a name
    monkeypatch.setenv("ENGAGE_SAMPLE_FPS", "3")
    assert load_config().sample_fps == 3  # os.environ when no environment is given


def test_one_error_is_one_message_without_a_count():
    with pytest.raises(EngageError) as info:
        load_config(overrides={"sample_fps": 0}, environ={})
    assert str(info.value) == "config key 'sample_fps' in the command line: Input should be greater than 0"
    with pytest.raises(EngageError) as info:
        load_config(environ={"ENGAGE_SAMPLE_FPS": "0"})
    assert str(info.value) == "config key 'sample_fps' in the environment (ENGAGE_*): Input should be greater than 0"


def test_file_problems_have_exact_messages(tmp_path: Path):
    from engage.config import MAX_CONFIG_BYTES

    file = tmp_path / "c.yaml"
    file.write_text("sample_fps: 2\nsheets: [unclosed\n")
    with pytest.raises(EngageError) as info:
        load_config(file, environ={})
    assert str(info.value) == f"config file {file} is not valid YAML at line 3"
    file.write_text("- a\n- b\n")
    with pytest.raises(EngageError) as info:
        load_config(file, environ={})
    assert str(info.value) == f"config file {file} must hold a mapping of keys, not list"
    file.write_bytes(b"#" * (MAX_CONFIG_BYTES - 1) + b"\n")  # exactly at the limit: read
    assert load_config(file, environ={}).sample_fps == 1.0
    file.write_bytes(b"#" * MAX_CONFIG_BYTES + b"\n")
    with pytest.raises(EngageError) as info:
        load_config(file, environ={})
    assert str(info.value) == f"config file {file} is over 1024 KB: not a config file"
    with pytest.raises(EngageError) as info:
        load_config(Path("/proc/self/mem"), environ={})  # a regular file that cannot be read from its start
    assert str(info.value) == "cannot read config file /proc/self/mem: Input/output error"


def test_files_and_flags_are_strict_the_environment_is_lax(tmp_path: Path):
    # Text from the environment is parsed, so "3.0" may mean 3; a file or a flag must give the right type.
    assert load_config(environ={"ENGAGE_PRIVACY__MIN_FACES": "3.0"}).privacy.min_faces == 3
    assert load_config(environ={"ENGAGE_SHEETS__MIRROR": "1"}).sheets.mirror is True
    file = tmp_path / "c.yaml"
    file.write_text("privacy:\n  min_faces: 3.0\n")
    with pytest.raises(EngageError, match=f"config key 'privacy.min_faces' in {file}"):
        load_config(file, environ={})
    with pytest.raises(EngageError, match="config key 'sheets.mirror' in the command line"):
        load_config(overrides={"sheets": {"mirror": 1}}, environ={})


def test_a_broken_config_yaml_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import engage.config

    shipped = tmp_path / "config.yaml"
    shipped.write_text("sample_fps: often\n")
    monkeypatch.setattr(engage.config, "DEFAULT_CONFIG", shipped)
    with pytest.raises(EngageError) as info:
        load_config(environ={})
    assert str(info.value).startswith(f"config key 'sample_fps' in {shipped}: ")
