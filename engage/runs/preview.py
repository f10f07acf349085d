"""The live preview window of `engage record --preview` (Tk; only where a display exists)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from engage.minutes.timefmt import format_clock
from engage.runs.recorder_status import RecorderStatus
from engage.types import FrameFaces


class Preview(Protocol):
    def show(self, image: np.ndarray, result: FrameFaces, status: RecorderStatus) -> None: ...

    def poll(self) -> bool: ...  # False once the user closed the window

    def close(self) -> None: ...


def has_display() -> bool:
    """Whether a window can be opened: on Linux and BSD that needs $DISPLAY or $WAYLAND_DISPLAY."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _draw(image: np.ndarray, result: FrameFaces) -> np.ndarray:
    from engage.vision.photos import face_results

    faces = face_results(result)
    try:
        from engage.vision.annotate import draw_faces  # type: ignore[import-not-found]
    except ImportError:  # the shared drawing code is not there: plain boxes and labels
        canvas = image.copy()
        for face in faces:
            x, y, w, h = face.box
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 200, 0), 2)
            label = f"{face.label} {face.emotions[face.label]:.0%}"
            cv2.putText(canvas, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 0), 1, cv2.LINE_AA)
        return canvas
    return draw_faces(image, faces)


def render_preview(image: np.ndarray, result: FrameFaces, status: RecorderStatus, max_width: int = 1280) -> np.ndarray:
    """The preview picture: faces boxed with their top emotion, and the open minute's running engagement."""
    canvas = _draw(image, result)
    if canvas.shape[1] > max_width:
        scale = max_width / canvas.shape[1]
        canvas = cv2.resize(canvas, (max_width, round(canvas.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    engagement = "n/a" if status.engagement_now is None else f"{status.engagement_now:.2f}"
    text = (
        f"{format_clock(status.elapsed_s)}  faces {status.faces_now}  engagement (this minute) {engagement}"
        f"  {status.achieved_fps:.1f}/{status.sample_fps:g} fps"
    )
    cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 28), (0, 0, 0), -1)
    cv2.putText(canvas, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


class TkPreview:
    """A Tk window (through Pillow's ImageTk) showing each analysed frame; works with headless OpenCV."""

    def __init__(self, title: str) -> None:
        import tkinter

        from PIL import ImageTk  # noqa: F401 - fail here, not at the first frame

        self._root = tkinter.Tk()
        self._root.title(title)
        self._label = tkinter.Label(self._root)
        self._label.pack()
        self._open = True
        self._photo = None
        self._root.protocol("WM_DELETE_WINDOW", self._closed)

    def _closed(self) -> None:
        self._open = False

    def show(self, image: np.ndarray, result: FrameFaces, status: RecorderStatus) -> None:
        from PIL import Image, ImageTk

        picture = render_preview(image, result, status)
        self._photo = ImageTk.PhotoImage(Image.fromarray(cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)))
        self._label.configure(image=self._photo)

    def poll(self) -> bool:
        if self._open:
            self._root.update()
        return self._open

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._root.destroy()


def open_preview(title: str, say: Callable[[str], None]) -> Preview | None:
    """A preview window, or None with a line saying so when there is no display (then record headless)."""
    if not has_display():
        say("no display: running headless (no preview window)")
        return None
    try:
        return TkPreview(title)
    except Exception as exc:  # no Tk, or the display refused the connection
        say(f"no preview window ({exc}): running headless")
        return None
