"""`engage classify` on real photos: JSON shape, per-face output, and bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engage.emotions import EMOTIONS


def classify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", "classify", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=120,
    )


@pytest.fixture()
def photos(tmp_path, astronaut_bgr):
    astronaut = tmp_path / "astronaut.png"
    cv2.imwrite(str(astronaut), astronaut_bgr)
    crop = tmp_path / "face.jpg"
    cv2.imwrite(str(crop), astronaut_bgr[30:230, 140:320])
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a text file renamed .jpg")
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((200, 300, 3), 128, np.uint8))
    return {"astronaut": astronaut, "crop": crop, "fake": fake, "blank": blank, "missing": tmp_path / "gone.png"}


def test_json_gives_one_object_per_image_with_every_emotion(photos):
    result = classify(str(photos["astronaut"]), str(photos["blank"]), "--json")
    assert result.returncode == 0, result.stderr
    astronaut, blank = (json.loads(line) for line in result.stdout.splitlines())
    assert astronaut["path"] == str(photos["astronaut"]) and blank["faces"] == []
    (face,) = astronaut["faces"]
    assert set(face) == {"box", "label", "emotions", "pose", "state", "readable"}
    # The astronaut looks at the camera, head a little tilted: a frontal, readable face.
    assert set(face["pose"]) == {"yaw", "pitch", "roll"} and abs(face["pose"]["yaw"]) < 25
    assert face["state"] == "facing" and face["readable"] is True
    x, y, w, h = face["box"]
    assert all(isinstance(v, int) for v in face["box"]) and 140 < x + w / 2 < 320 and 30 < y + h / 2 < 230
    assert list(face["emotions"]) == list(EMOTIONS)
    assert sum(face["emotions"].values()) == pytest.approx(1, abs=1e-3)
    assert face["label"] == max(face["emotions"], key=face["emotions"].get) == "happy"


def test_whole_image_treats_the_image_as_one_face(photos):
    result = classify(str(photos["crop"]), "--whole-image", "--json")
    assert result.returncode == 0, result.stderr
    (face,) = json.loads(result.stdout)["faces"]
    assert face["box"] == [0, 0, 180, 200] and face["label"] == "happy"
    assert face["pose"] is None and face["state"] is None and face["readable"] is True  # no landmarks


def test_bad_files_are_reported_one_by_one_and_the_rest_still_classified(photos):
    result = classify(str(photos["fake"]), str(photos["astronaut"]), str(photos["missing"]))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{photos['fake']}: not a readable image" in result.stderr
    assert f"{photos['missing']}: no such file" in result.stderr
    assert "2 of 3 file(s) could not be classified" in result.stderr
    assert "happy" in result.stdout and str(photos["astronaut"]) in result.stdout
