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
