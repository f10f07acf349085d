"""EmotionClassifier: the shipped model through the LiteRT runtime, one batch per call."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engage.emotions import EMOTIONS
from engage.errors import EngageError, NotFound
from engage.paths import MODELS_DIR
from engage.vision.preprocess import INPUT_SIZE, prepare_faces

DEFAULT_MODEL = MODELS_DIR / "engage-emotion.tflite"


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide LiteRT's C++ start-up log ("Created TensorFlow Lite XNNPACK delegate"), which
    bypasses Python's logging and would break the CLI's one-line-error promise."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # no real stderr (e.g. captured in tests)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


class EmotionClassifier:
    """Classify face crops into the seven emotions.

    Loads the LiteRT model once. ``predict`` takes a list of crops of any size in gray, BGR(A)
    or RGB(A) (say which with ``order``) and returns an (N, 7) float32 array of probabilities in
    ``EMOTIONS`` order, running the interpreter once per chunk of ``max_batch`` faces.

    The probabilities are calibrated with the temperature `engage train` fitted on PublicTest and wrote
    beside the model (``<model>.json``, key ``temperature``); ``temperature`` overrides it (1.0: raw).
    """

    labels: tuple[str, ...] = EMOTIONS

    def __init__(
        self,
        model_path: Path | str | None = None,
        threads: int = 2,
        max_batch: int = 64,
        temperature: float | None = None,
    ) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(model_path) if model_path else DEFAULT_MODEL
        self.temperature = temperature if temperature is not None else model_temperature(self.path)
        if not self.path.is_file():
            raise NotFound(f"emotion model not found: {self.path}")
        self.max_batch = max_batch
        self._model = self.path.read_bytes()
        try:
            with _native_stderr_silenced():
                self._interpreter = Interpreter(model_content=self._model, num_threads=threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise EngageError(f"not a LiteRT model: {self.path} ({exc})") from None
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = 1

    @property
    def name(self) -> str:
        """File name and short content hash, recorded with every session."""
        return f"{self.path.name}@{hashlib.sha256(self._model).hexdigest()[:12]}"

    def predict(self, crops: list[np.ndarray] | np.ndarray, order: str = "bgr") -> np.ndarray:
        """Probabilities (N, 7) for N face crops; an empty input gives an empty (0, 7) array."""
        return self.predict_prepared(prepare_faces(crops, order))

    def predict_prepared(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities for faces already passed through ``prepare_faces``."""
        out = np.empty((len(batch), len(EMOTIONS)), np.float32)
        for start in range(0, len(batch), self.max_batch):
            chunk = np.ascontiguousarray(batch[start : start + self.max_batch], dtype=np.float32)
            out[start : start + len(chunk)] = self._invoke(chunk)
        return out

    def _invoke(self, chunk: np.ndarray) -> np.ndarray:
        probabilities = self._run(chunk)
        return probabilities if self.temperature == 1.0 else apply_temperature(probabilities, self.temperature)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        if len(chunk) != self._batch:
            # Re-planning for a new batch size is cheap (measured: cheaper than padding to a fixed size).
            self._interpreter.resize_tensor_input(self._input, (len(chunk), INPUT_SIZE, INPUT_SIZE, 1))
            self._interpreter.allocate_tensors()
            self._batch = len(chunk)
        self._interpreter.set_tensor(self._input, chunk)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output)


def model_info_path(model_path: Path) -> Path:
    """The JSON file beside a model that holds what `engage train` measured about it (temperature, ...)."""
    return model_path.with_suffix(".json")


def model_temperature(model_path: Path) -> float:
    """The calibration temperature shipped with a model; 1.0 (none) when it has no info file."""
    info = model_info_path(model_path)
    if not info.is_file():
        return 1.0
    try:
        temperature = float(json.loads(info.read_text())["temperature"])
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise EngageError(f"unreadable model info {info}: {exc}") from None
    if not temperature > 0:
        raise EngageError(f"model info {info}: temperature must be positive, not {temperature}")
    return temperature


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of log-probabilities divided by ``temperature`` (> 1 softens, < 1 sharpens)."""
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)
