"""Still images decoded in memory, quietly: a broken file is a ValueError, never a line on stderr.

OpenCV's decoders print their complaints (``libpng error: ...``, ``Corrupt JPEG data: ...``) straight to the
process's stderr; Pillow raises them as exceptions instead, so engage decodes with Pillow and reports a bad
file in its own words. Pixels are the same as OpenCV's (both use libjpeg-turbo, libpng and libwebp), and the
EXIF orientation is applied as OpenCV does.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

# What engage reads (photos, image folders). Pillow would open more, some through outside programs (EPS
# through Ghostscript), so only these are tried (phone MPO files open as JPEG).
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM")
NOT_AN_IMAGE = "not a readable image (JPEG, PNG, WebP, BMP or TIFF)"


def _to_bgr(image: Image.Image) -> np.ndarray:
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        # 16-bit (or float) grey, to 8 bits as OpenCV's IMREAD_COLOR does: the high byte.
        values = np.asarray(image, dtype=np.float64)
        gray = np.clip(values / 256.0 if image.mode != "F" else values, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    rgb = np.asarray(image.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


def decode_bgr(data: bytes) -> np.ndarray:
    """Decode image bytes to a BGR uint8 array of shape (height, width, 3); ValueError when they are not one."""
    if not data:
        raise ValueError(NOT_AN_IMAGE)
    Image.init()  # registers every format plugin (WebP, TIFF ...), once; Image.open(formats=...) needs them
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF, truncated chunks, large images
            with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
                upright = ImageOps.exif_transpose(opened)
                image = _to_bgr(upright)
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image is too large to decode ({exc})") from None
    except Exception:  # Pillow raises OSError, SyntaxError, struct.error, EOFError ... for broken files
        raise ValueError(NOT_AN_IMAGE) from None
    if image.size == 0:
        raise ValueError(NOT_AN_IMAGE)
    return image
