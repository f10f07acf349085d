"""Face-crop preprocessing shared by training and inference (one function, so they cannot drift)."""

from __future__ import annotations

import cv2
import numpy as np

INPUT_SIZE = 48


COLOR_ORDERS = ("bgr", "rgb")


def to_gray(image: np.ndarray, order: str = "bgr") -> np.ndarray:
    """Return a 2-D uint8 gray image from gray, BGR(A) or RGB(A) input.

    ``order`` names the channel order of 3- and 4-channel input: "bgr" (OpenCV) or "rgb"
    (PIL, scikit-image, browsers); an alpha channel is ignored.
    """
    if order not in COLOR_ORDERS:
        raise ValueError(f"order must be one of {COLOR_ORDERS}, not {order!r}")
    if image.ndim == 2:
        gray = image
    elif image.ndim == 3 and image.shape[2] == 1:
        gray = image[:, :, 0]
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        code = {
            (3, "bgr"): cv2.COLOR_BGR2GRAY,
            (3, "rgb"): cv2.COLOR_RGB2GRAY,
            (4, "bgr"): cv2.COLOR_BGRA2GRAY,
            (4, "rgb"): cv2.COLOR_RGBA2GRAY,
        }[(image.shape[2], order)]
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        gray = cv2.cvtColor(image, code)
    else:
        raise ValueError(f"unsupported image shape {image.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return gray


def resize_face(gray: np.ndarray) -> np.ndarray:
    """Resize a gray face crop to the model's square input size."""
    if gray.shape == (INPUT_SIZE, INPUT_SIZE):
        return gray
    shrinking = gray.shape[0] > INPUT_SIZE or gray.shape[1] > INPUT_SIZE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(gray, (INPUT_SIZE, INPUT_SIZE), interpolation=interpolation)


def standardize(faces: np.ndarray) -> np.ndarray:
    """Per-face standardisation of (N, 48, 48) uint8 faces to (N, 48, 48, 1) float32.

    Zero mean and unit variance per face removes exposure and contrast differences between
    webcams and the training photos; a blank face (no variance) maps to all zeros.
    """
    if len(faces) == 0:
        return np.zeros((0, INPUT_SIZE, INPUT_SIZE, 1), np.float32)
    x = faces.astype(np.float32).reshape(len(faces), -1)
    x -= x.mean(axis=1, keepdims=True)
    x /= np.maximum(x.std(axis=1, keepdims=True), 1.0)
    return x.reshape(len(faces), INPUT_SIZE, INPUT_SIZE, 1)


def prepare_faces(crops: list[np.ndarray] | np.ndarray, order: str = "bgr") -> np.ndarray:
    """Turn face crops of any size and colour format into the model's input batch.

    A (N, 48, 48) uint8 array (the FER2013 training layout) takes the same path as a list of
    crops: gray conversion and resizing are no-ops for it, then the same standardisation.
    """
    if isinstance(crops, np.ndarray) and crops.ndim == 3 and crops.shape[1:] == (INPUT_SIZE, INPUT_SIZE):
        return standardize(crops.astype(np.uint8, copy=False))
    if len(crops) == 0:
        return standardize(np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8))
    return standardize(np.stack([resize_face(to_gray(c, order)) for c in crops]))
