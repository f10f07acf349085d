"""FER2013 (+ FER+ votes) loading, soft labels and augmentation, all in NumPy/OpenCV.

Augmentation runs on uint8 faces before the shared preprocessing, so training sees exactly what
inference sees. Everything random comes from a NumPy generator seeded by (seed, epoch), which
makes an interrupted run resume on the same data it would have seen.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engage.emotions import EMOTIONS, FERPLUS_NOT_A_FACE, FERPLUS_TO_FER
from engage.errors import EngageError, NotFound
from engage.paths import shared_data_dir

SPLITS = {"train": "train", "val": "val", "test": "test", "public": "val", "private": "test"}


def default_data_path() -> Path:
    """FER2013 location: $ENGAGE_DATA (a file, or a folder holding fer2013.npz), else ../shared/data."""
    env = os.environ.get("ENGAGE_DATA")
    if env and Path(env).is_file():
        return Path(env)
    return shared_data_dir() / "fer2013.npz"


@dataclass
class Split:
    faces: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # (N,) int, FER2013 labels
    votes: np.ndarray | None  # (N, 10) FER+ votes, or None


def load_split(path: Path, split: str, ferplus: Path | None = None) -> Split:
    """Load one split ("train", "val"/"public", "test"/"private") of fer2013.npz."""
    key = SPLITS.get(split)
    if key is None:
        raise EngageError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if not path.is_file():
        raise NotFound(
            f"FER2013 data not found at {path}: the model is measured and trained on FER2013, 35,887 grey 48x48 "
            "faces labelled with 7 emotions (Kaggle, 2013), as fer2013.npz (README: Data for measuring and "
            "training); set ENGAGE_DATA to that file or its folder"
        )
    try:
        with np.load(path) as data:
            faces, labels = data[f"{key}_x"], data[f"{key}_y"].astype(np.int64)
    except (KeyError, ValueError, OSError) as exc:
        raise EngageError(f"{path} is not a FER2013 .npz with {key}_x/{key}_y arrays ({exc})") from None
    votes = None
    if ferplus is not None:
        if not ferplus.is_file():
            raise EngageError(f"FER+ votes not found at {ferplus}")
        with np.load(ferplus) as data:
            votes = data[f"{key}_votes"]
        if len(votes) != len(faces):
            raise EngageError(f"{ferplus} has {len(votes)} {key} rows, FER2013 has {len(faces)}")
    return Split(faces, labels, votes)


def ferplus_distribution(votes: np.ndarray) -> np.ndarray:
    """FER+ votes -> (N, 7) distribution over EMOTIONS; rows without votes for them are all zero."""
    seven = votes[:, list(FERPLUS_TO_FER)].astype(np.float32)
    total = seven.sum(axis=1, keepdims=True)
    return np.divide(seven, total, out=np.zeros_like(seven), where=total > 0)


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """FER+ majority label in EMOTIONS order, or -1 where the majority is not one of the seven."""
    majority = votes.argmax(axis=1)
    lookup = np.full(votes.shape[1], -1)
    for fer_index, column in enumerate(FERPLUS_TO_FER):
        lookup[column] = fer_index
    return lookup[majority]


def training_targets(split: Split, ferplus_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Soft targets and a keep-mask for the training split.

    Targets mix the FER2013 one-hot label with the FER+ crowd distribution (weight
    ``ferplus_weight``). With votes, images the crowd called "not a face" and blank images are
    dropped (FER+'s cleaning); without votes only blank images are dropped.
    """
    onehot = np.eye(len(EMOTIONS), dtype=np.float32)[split.labels]
    keep = split.faces.reshape(len(split.faces), -1).std(axis=1) > 0
    if split.votes is None or ferplus_weight <= 0:
        return onehot, keep
    crowd = ferplus_distribution(split.votes)
    has_votes = crowd.sum(axis=1) > 0
    keep &= split.votes.argmax(axis=1) != FERPLUS_NOT_A_FACE
    targets = np.where(has_votes[:, None], (1 - ferplus_weight) * onehot + ferplus_weight * crowd, onehot)
    return targets.astype(np.float32), keep


AUGMENTATIONS = ("strong", "light")
# strength -> (rotation deg, scale +-, shift share, photometric and erasing probabilities' factor)
_STRENGTH = {"strong": (15.0, 0.2, 0.1, 1.0), "light": (10.0, 0.1, 0.05, 0.5)}


def augment(faces: np.ndarray, rng: np.random.Generator, strength: str = "strong") -> np.ndarray:
    """Geometric and photometric augmentation of uint8 faces, shape kept.

    Geometry ("strong"; "light" is milder): flip, scale 0.8-1.2, rotation +-15 deg, shift +-10%. Photometry,
    for robustness beyond FER2013's web photos (classroom cameras: dim rooms, compression, small faces):
    gamma, contrast, blur, low resolution, JPEG and sensor noise ("light": each half as often). Erasing and
    cropping happen after standardisation (``erase_and_crop``) so they cannot shift a face's normalisation.
    """
    rotation, scale, shift, _ = _STRENGTH[strength]
    n, size = len(faces), faces.shape[1]
    out = np.empty_like(faces)
    angles = rng.uniform(-rotation, rotation, n)
    scales = rng.uniform(1 - scale, 1 + scale, n)
    shifts = rng.uniform(-shift, shift, (n, 2)) * size
    flips = rng.random(n) < 0.5
    center = (size / 2 - 0.5, size / 2 - 0.5)
    for i in range(n):
        matrix = cv2.getRotationMatrix2D(center, angles[i], scales[i])
        matrix[:, 2] += shifts[i]
        face = faces[i, :, ::-1] if flips[i] else faces[i]
        out[i] = cv2.warpAffine(face, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    _photometric(out, rng, _STRENGTH[strength][3])
    return out


def _photometric(faces: np.ndarray, rng: np.random.Generator, often: float = 1.0) -> None:
    """In place: each effect applies to a random subset of the faces (``often`` scales how many), with its own
    strength."""
    n, size = len(faces), faces.shape[1]
    for i in np.flatnonzero(rng.random(n) < 0.4 * often):  # gamma and contrast: dim, bright and flat lighting
        gamma = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))
        lut = 255.0 * (np.arange(256) / 255.0) ** gamma
        contrast = rng.uniform(0.5, 1.0)
        lut = 128 + (lut - 128) * contrast
        faces[i] = np.clip(lut, 0, 255).astype(np.uint8)[faces[i]]
    for i in np.flatnonzero(rng.random(n) < 0.2 * often):  # defocus and motion softness
        faces[i] = cv2.GaussianBlur(faces[i], (0, 0), rng.uniform(0.5, 1.3))
    for i in np.flatnonzero(rng.random(n) < 0.2 * often):  # a back-row face: few pixels, upscaled
        small = int(rng.integers(16, 32))
        tiny = cv2.resize(faces[i], (small, small), interpolation=cv2.INTER_AREA)
        faces[i] = cv2.resize(tiny, (size, size), interpolation=cv2.INTER_LINEAR)
    for i in np.flatnonzero(rng.random(n) < 0.2 * often):  # stream and recording compression
        quality = int(rng.integers(25, 80))
        encoded = cv2.imencode(".jpg", faces[i], [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        faces[i] = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    for i in np.flatnonzero(rng.random(n) < 0.15 * often):  # sensor noise in a dim room
        noise = rng.normal(0, rng.uniform(3, 12), (size, size))
        faces[i] = np.clip(faces[i] + noise, 0, 255).astype(np.uint8)


def erase_and_crop(x: np.ndarray, rng: np.random.Generator, crop: int, strength: str = "strong") -> np.ndarray:
    """Random erasing (p=0.5, "light" 0.25; 2-20% of the face, filled with 0 = the face's mean) of standardised
    (N, S, S, 1) faces, then a random ``crop`` x ``crop`` window of each."""
    n, size = len(x), x.shape[1]
    x = x.copy()
    for i in np.flatnonzero(rng.random(n) < 0.5 * _STRENGTH[strength][3]):
        area = rng.uniform(0.02, 0.2) * size * size
        aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
        h = int(min(size, round(np.sqrt(area * aspect))))
        w = int(min(size, round(np.sqrt(area / aspect))))
        y, x0 = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
        x[i, y : y + h, x0 : x0 + w] = 0.0
    if crop >= size:
        return x
    offsets = rng.integers(0, size - crop + 1, (n, 2))
    return np.stack([x[i, oy : oy + crop, ox : ox + crop] for i, (oy, ox) in enumerate(offsets)])


def centre_crop(x: np.ndarray, crop: int) -> np.ndarray:
    """The centre ``crop`` x ``crop`` window of (N, S, S, 1) faces (what the shipped model sees)."""
    start = (x.shape[1] - crop) // 2
    return x[:, start : start + crop, start : start + crop]
