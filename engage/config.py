"""Configuration: config.yaml defaults < --config file < ENGAGE_* environment < command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engage.emotions import EMOTIONS
from engage.errors import ConfigError
from engage.paths import DEFAULT_CONFIG
from engage.safetext import mask_password
from engage.types import ATTENTION_STATES

# ENGAGE_* variables that are not configuration keys.
NON_CONFIG_ENV = {"ENGAGE_DATA", "ENGAGE_HOME", "ENGAGE_CACHE", "ENGAGE_VIDEOS", "ENGAGE_CONFIG", "ENGAGE_DEBUG"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DetectorConfig(_Section):
    """Face detection (engage.vision.detection, sweep, follow); see config.yaml."""

    name: Literal["yunet", "haar"] = "yunet"
    min_face: int = Field(10, ge=1)
    score_threshold: float = Field(0.6, ge=0, le=1)
    max_side: int = Field(960, ge=64)
    fast_side: int = Field(640, ge=0)
    check_every: int = Field(30, ge=1)
    margin: float = Field(0.0, ge=0, le=1)
    upscale: float = Field(1.5, ge=1, le=4)
    small_frame: int = Field(480, ge=0)
    small_face: int = Field(24, ge=0)
    follow: bool = True
    sweep_min: int = Field(2, ge=1, le=1000)
    sweep_max: int = Field(12, ge=1, le=1000)
    region_face: int = Field(40, ge=16, le=256)
    region_pad: float = Field(2.0, ge=1.2, le=4)
    region_threshold: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _sweeps_in_order(self) -> DetectorConfig:
        if self.sweep_min > self.sweep_max:
            raise ValueError(f"sweep_min ({self.sweep_min}) must not be above sweep_max ({self.sweep_max})")
        return self


class ClassifierConfig(_Section):
    model: str | None = None
    threads: int = Field(2, ge=1)


class EngagementConfig(_Section):
    weights: dict[str, float] = Field(default_factory=dict)
    high_band: float = Field(0.65, ge=0, le=1)
    low_band: float = Field(0.25, ge=0, le=1)

    @field_validator("weights")
    @classmethod
    def _all_emotions(cls, weights: dict[str, float]) -> dict[str, float]:
        if set(weights) != set(EMOTIONS):
            missing, extra = set(EMOTIONS) - set(weights), set(weights) - set(EMOTIONS)
            raise ValueError(f"needs exactly the 7 emotions (missing {sorted(missing)}, unknown {sorted(extra)})")
        if any(w < 0 for w in weights.values()) or max(weights.values()) <= 0:
            raise ValueError("weights must be >= 0 with at least one > 0")
        return weights

    @model_validator(mode="after")
    def _bands_in_order(self) -> EngagementConfig:
        # low_band >= high_band would count a face as both high and low and store a negative nominal share.
        if self.low_band >= self.high_band:
            raise ValueError(f"low_band ({self.low_band:g}) must be below high_band ({self.high_band:g})")
        return self


class AttentionConfig(_Section):
    """Head pose, anonymous face tracks and attention states (engage.attention); see config.yaml."""

    facing_cone_deg: float = Field(25.0, gt=0, le=90)
    down_pitch_deg: float = Field(20.0, gt=0, le=90)
    down_max_yaw_deg: float = Field(40.0, gt=0, le=90)
    readable_yaw_deg: float = Field(37.5, gt=0, le=90)
    readable_pitch_down_deg: float = Field(22.5, gt=0, le=90)
    readable_pitch_up_deg: float = Field(22.5, gt=0, le=90)
    reference_yaw: float | None = Field(None, ge=-90, le=90)
    reference_pitch: float | None = Field(None, ge=-90, le=90)
    reference_window_s: float = Field(300.0, gt=0, le=86400)
    reference_pitch_limit_deg: float = Field(15.0, ge=0, le=90)
    smoothing_samples: int = Field(5, ge=1, le=60)
    lost_s: float = Field(3.0, gt=0, le=600)
    weights: dict[str, float] = Field(default_factory=lambda: {"facing": 1.0, "down": 0.8, "away": 0.3})

    @field_validator("weights")
    @classmethod
    def _all_states(cls, weights: dict[str, float]) -> dict[str, float]:
        if set(weights) != set(ATTENTION_STATES):
            states = ", ".join(ATTENTION_STATES)
            raise ValueError(f"needs exactly the states {states}, not {', '.join(sorted(weights))}")
        if any(not 0 <= w <= 1 for w in weights.values()):
            raise ValueError("attention weights must be between 0 and 1")
        return weights

    @model_validator(mode="after")
    def _fixed_reference_is_whole(self) -> AttentionConfig:
        if (self.reference_yaw is None) != (self.reference_pitch is None):
            raise ValueError("set both reference_yaw and reference_pitch for a fixed direction, or neither")
        return self


class PrivacyConfig(_Section):
    min_faces: int = Field(1, ge=1)
    retention_days: int = Field(365, ge=0)


class RecorderConfig(_Section):
    """`engage record` (engage.runs.recorder)."""

    reconnect_s: float = Field(120.0, ge=0, le=86400)
    stream_timeout_s: float = Field(10.0, gt=0, le=600)


class SheetsConfig(_Section):
    """Google Sheets export and mirror (engage.sheets.push, engage.sheets.mirror)."""

    spreadsheet: str | None = None  # key or URL of a spreadsheet shared with the service account
    worksheet: str = Field("engage minutes", min_length=1, max_length=100)
    summary_worksheet: str = Field("engage sessions", min_length=1, max_length=100)
    layout: Literal["table", "per_session"] = "table"
    credentials: str | None = None  # service-account or OAuth client JSON; None: $GOOGLE_APPLICATION_CREDENTIALS
    mirror: bool = False
    interval_s: float = Field(15.0, ge=1, le=3600)
    writes_per_minute: int = Field(50, ge=1, le=300)
    reads_per_minute: int = Field(50, ge=1, le=300)
    max_retries: int = Field(5, ge=0, le=10)
    timeout_s: float = Field(30.0, gt=0, le=600)


class DashboardConfig(_Section):
    host: str = "127.0.0.1"  # anything but loopback needs username and password
    port: int = Field(8050, ge=1, le=65535)
    username: str | None = None
    password: str | None = None  # best set through ENGAGE_DASHBOARD__PASSWORD, not in a file
    refresh_seconds: float = Field(5.0, gt=0)

    @field_validator("username", "password", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        # ENGAGE_DASHBOARD__PASSWORD=1234 arrives parsed as a number.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Config(_Section):
    sample_fps: float = Field(1.0, gt=0, le=60)
    database: str | None = None
    detector: DetectorConfig = DetectorConfig()
    classifier: ClassifierConfig = ClassifierConfig()
    engagement: EngagementConfig = EngagementConfig()
    attention: AttentionConfig = AttentionConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    recorder: RecorderConfig = RecorderConfig()
    sheets: SheetsConfig = SheetsConfig()
    dashboard: DashboardConfig = DashboardConfig()

    def for_storage(self) -> dict[str, Any]:
        """The configuration as JSON values without secrets: what a session stores and prints.

        The dashboard password becomes "***" when set, and a database URL's password is masked.
        """
        return redact(self.model_dump(mode="json"))


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config mapping (Config.model_dump(mode="json"), or one stored by an older engage) without secrets."""
    clean = dict(config)
    dashboard = clean.get("dashboard")
    if isinstance(dashboard, Mapping) and dashboard.get("password") is not None:
        clean["dashboard"] = {**dashboard, "password": "***"}
    if isinstance(clean.get("database"), str):
        clean["database"] = mask_password(clean["database"])
    return clean


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred lines; anything larger is not one


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():  # a folder, a FIFO (reading it would wait forever), a device
        raise ConfigError(f"config file {path} is not a regular file")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES // 1024} KB: not a config file")
    try:
        # Bytes: PyYAML reads UTF-8, and UTF-16/32 with a byte-order mark, as YAML 1.1 specifies.
        data = yaml.safe_load(raw) or {}
    except yaml.reader.ReaderError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {exc.position}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    except RecursionError:
        raise ConfigError(f"config file {path} is nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """ENGAGE_A__B=value -> {"a": {"b": value}}, values parsed as YAML scalars ("2" -> 2)."""
    result: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("ENGAGE_") or name in NON_CONFIG_ENV:
            continue
        keys = name[len("ENGAGE_") :].lower().split("__")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict | list) and not raw.lstrip().startswith(("{", "[")):
            value = raw  # "sqlite:///:memory:" reads as a YAML mapping; only {...} and [...] are meant as one
        node = result
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):  # ENGAGE_SAMPLE_FPS=1 and ENGAGE_SAMPLE_FPS__X=2
                raise ConfigError(f"environment variable {name} sets a key inside {key}, which is not a section")
        node[keys[-1]] = value
    return result


def _one_line(error: ValidationError, origin: str) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"unknown config key '{where}' in {origin}"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"config key '{where}' in {origin}: {first['msg']}{more}"


def load_config(
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration; any problem becomes a one-line EngageError.

    ``overrides`` holds command-line values as a nested mapping; None values are ignored.
    """
    layers: list[tuple[str, dict[str, Any]]] = [(str(DEFAULT_CONFIG), _read_yaml(DEFAULT_CONFIG))]
    if config_file is not None:
        layers.append((str(config_file), _read_yaml(config_file)))
    env = _from_environment(os.environ if environ is None else environ)
    if env:
        layers.append(("the environment (ENGAGE_*)", env))
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    if flags:
        layers.append(("the command line", flags))
    merged: dict[str, Any] = {}
    for origin, data in layers:
        # Validate each layer on its own first so an error names the layer it came from.
        try:
            Config.model_validate(_merge(merged, data), strict=origin != "the environment (ENGAGE_*)")
        except ValidationError as exc:
            raise ConfigError(_one_line(exc, origin)) from None
        merged = _merge(merged, data)
    return Config.model_validate(merged, strict=False)
