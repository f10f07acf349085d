"""The dashboard's "Try a photo" page in headless Chromium: real uploads through the page's file input.

Run with `--webdriver Chrome --headless` (dash[testing] + Debian `chromium` and `chromium-driver`).
Screenshots go to test-artifacts/photo/ (look at them).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import traceback
from pathlib import Path

import cv2
import numpy as np
import pytest
from faces import group_photo

pytest.importorskip("dash.testing", reason="dash[testing] is not installed: pip install 'dash[testing]'")
if not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"):
    pytest.skip(
        "Chromium or chromedriver missing: apt-get install -y chromium chromium-driver", allow_module_level=True
    )

from selenium.webdriver.common.by import By  # noqa: E402

from engage.config import load_config  # noqa: E402
from engage.vision.annotate import EMOTION_BGR  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "photo"
TIMEOUT = 60  # the first upload loads the model


@pytest.fixture()
def page(dash_duo, tmp_path):
    """The dashboard on a loopback port, showing /photo; yields (dash_duo, database path)."""
    from dashboards.app import create_app

    db = tmp_path / "engage.db"
    app = create_app(str(db), load_config(None))
    dash_duo.start_server(app)
    dash_duo.driver.set_window_size(1400, 1800)
    dash_duo.driver.get(dash_duo.server_url + "/photo")
    dash_duo.wait_for_text_to_equal("h1", "Try a photo", timeout=20)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return dash_duo, db


def upload(dash_duo, path: Path) -> None:
    file_input = dash_duo.driver.find_element(By.CSS_SELECTOR, "#photo-upload input[type=file]")
    file_input.send_keys(str(path))


def shown_image(dash_duo) -> np.ndarray:
    src = dash_duo.find_element("#photo-annotated").get_attribute("src")
    header, _, body = src.partition(",")
    assert header == "data:image/jpeg;base64"
    return cv2.imdecode(np.frombuffer(base64.b64decode(body), np.uint8), cv2.IMREAD_COLOR)


def near_mask(pixels: np.ndarray, color: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    """Pixels within `tolerance` of `color` on every channel (the page shows a JPEG)."""
    return np.all(np.abs(pixels.astype(int) - np.array(color)) <= tolerance, axis=-1)


@pytest.fixture()
def temp_files(monkeypatch) -> list[str]:
    """Stacks of every temporary file or folder made in this process from now on (the server runs in it).

    Werkzeug spools large form uploads to temporary files (unnamed ones on Linux, so invisible in a folder
    listing); every tempfile function without an explicit dir asks `tempfile.gettempdir()` first.
    """
    calls: list[str] = []
    real = tempfile.gettempdir

    def recording() -> str:
        calls.append("".join(traceback.format_stack(limit=10)))
        return real()

    monkeypatch.setattr(tempfile, "gettempdir", recording)
    return calls


def browser_errors(dash_duo) -> list:
    """Console errors and warnings since the last call (Chrome hands each log entry over once)."""
    return [entry for entry in dash_duo.get_logs() or [] if entry.get("level") in ("SEVERE", "WARNING")]


def test_upload_a_real_photo_and_a_group_photo(page, tmp_path, astronaut_bgr, temp_files):
    dash_duo, db = page
    uploads = tmp_path / "uploads"  # the test writes the files it uploads; the server must not write anything
    uploads.mkdir()
    photo = uploads / "astronaut.jpg"
    cv2.imwrite(str(photo), astronaut_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])

    assert "Nothing you upload is written to disk or to the database" in dash_duo.find_element("#photo-privacy").text
    upload(dash_duo, photo)
    dash_duo.wait_for_contains_text("#photo-message", "1 face(s)", timeout=TIMEOUT)
    dash_duo.wait_for_element("#photo-charts .main-svg", timeout=20)
    dash_duo.wait_for_contains_text("#photo-charts", "1 happy", timeout=20)
    table = dash_duo.find_element("#photo-table").text
    assert "happy" in table and "angry" in table and "%" in table
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-table tbody tr")
    assert len(rows) == 1 and rows[0].text.split()[:2] == ["1", "happy"]
    shown = shown_image(dash_duo)
    assert shown.shape == astronaut_bgr.shape
    # The box and label are drawn around the face (x 140-320, y 30-230 in the photo), in the happy colour.
    painted = near_mask(shown, EMOTION_BGR["happy"]) & ~near_mask(astronaut_bgr, EMOTION_BGR["happy"])
    ys, xs = np.nonzero(painted)
    assert painted.sum() > 500
    assert 120 < xs.min() < 240 and 260 < xs.max() < 360 and ys.max() < 240
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "photo_astronaut.png"))

    image, placed = group_photo(30)
    group = uploads / "class.png"
    cv2.imwrite(str(group), image)
    upload(dash_duo, group)
    dash_duo.wait_for_contains_text("#photo-message", "30 face(s)", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#photo-charts", "30 happy", timeout=20)
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-table tbody tr")) == 30
    assert shown_image(dash_duo).shape == (675, 1200, 3), "shown at the page's width, labels drawn at that size"
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "photo_group.png"))

    errors = browser_errors(dash_duo)
    assert errors == [], f"browser console errors: {errors}"
    assert temp_files == [], f"a temporary file was made while serving uploads: {temp_files[0]}"
    assert sorted(p.name for p in uploads.iterdir()) == ["astronaut.jpg", "class.png"]
    assert not db.exists(), "the photo page must not create or write the database"


def test_bad_uploads_get_clear_messages(page, tmp_path, temp_files):
    from PIL import Image

    dash_duo, db = page
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a text file renamed .jpg")
    upload(dash_duo, fake)
    dash_duo.wait_for_contains_text(
        "#photo-message", "notes.jpg: not a readable image (JPEG, PNG, WebP, BMP or TIFF)", timeout=TIMEOUT
    )
    assert dash_duo.find_element("#photo-message").get_attribute("role") == "alert"
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-annotated")
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "photo_not_an_image.png"))
    errors = browser_errors(dash_duo)
    assert errors == [], f"browser console errors: {errors}"

    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), np.full((300, 400, 3), 128, np.uint8))
    upload(dash_duo, wall)
    dash_duo.wait_for_contains_text("#photo-message", "no face found: try a clearer, frontal photo", timeout=TIMEOUT)

    huge = tmp_path / "huge.png"  # 48 megapixels, a small file
    Image.new("L", (8000, 6000)).save(huge)
    upload(dash_duo, huge)
    dash_duo.wait_for_contains_text("#photo-message", "8000x6000", timeout=TIMEOUT)
    assert "over the 40 megapixel limit" in dash_duo.find_element("#photo-message").text

    heavy = tmp_path / "heavy.jpg"
    heavy.write_bytes(b"\xff\xd8\xff" + np.random.default_rng(0).bytes(16 * 1024 * 1024))
    upload(dash_duo, heavy)
    dash_duo.wait_for_contains_text(
        "#photo-message", "heavy.jpg: the file is 16.0 MB, over the 15 MB limit", timeout=TIMEOUT
    )
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "photo_too_large.png"))
    assert temp_files == [], f"a temporary file was made while serving uploads: {temp_files[0]}"
    assert not db.exists()
    errors = browser_errors(dash_duo)
    assert errors == [], f"browser console errors: {errors}"
