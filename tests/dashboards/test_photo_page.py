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
from engage.palette import EMOTION_BGR  # noqa: E402
from engage.paths import shared_data_dir  # noqa: E402

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
    dash_duo.wait_for_contains_text(".photo-side #photo-face-1", "1 happy", timeout=20)  # its chart beside the photo
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
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-charts .face-card")) == 30
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-table tbody tr")) == 30
    assert dash_duo.find_element("#photo-summary").text.startswith("30 faces")
    assert shown_image(dash_duo).shape[1] == 1000, "drawn at the size it is shown beside the summary"
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


CLASS57 = shared_data_dir() / "face_detect" / "images" / "class57.jpg"


def _rect(dash_duo, selector: str) -> dict:
    return dash_duo.driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};",
        selector,
    )


@pytest.mark.skipif(not CLASS57.is_file(), reason=f"class57.jpg not found at {CLASS57} (set ENGAGE_DATA)")
def test_a_class_photo_gets_a_summary_first_and_its_faces_in_a_grid_across_the_page(page):
    from engage.vision.photos import classify_image, photo_analyzer
    from engage.vision.summary import summarise_faces

    dash_duo, db = page
    config = load_config(None)
    image = cv2.imread(str(CLASS57))
    expected = summarise_faces(classify_image(image, photo_analyzer(config)), config.engagement)
    assert expected.faces == 57

    dash_duo.driver.set_window_size(1400, 1000)
    upload(dash_duo, CLASS57)
    dash_duo.wait_for_contains_text("#photo-message", "57 face(s)", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#photo-charts", "57 ", timeout=20)

    # The whole class first: faces found, mean engagement and faces per strongest emotion, as engage computes them.
    assert dash_duo.find_element("#photo-summary h2").text == "57 faces"
    assert dash_duo.find_element("#photo-engagement").text == f"{expected.engagement:.2f}"
    counts = {}
    for row in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-emotion-counts .bar-row"):
        emotion, count, _share = row.text.split()
        counts[emotion] = int(count)
    assert counts == expected.counts and sum(counts.values()) == 57
    ranked = list(counts.values())
    assert ranked == sorted(ranked, reverse=True), "most frequent emotion first"

    # The summary sits beside the photo, above the faces; the faces fill the page's width in a grid.
    photo, summary = _rect(dash_duo, "#photo-annotated"), _rect(dash_duo, "#photo-summary")
    grid, first = _rect(dash_duo, "#photo-charts"), _rect(dash_duo, "#photo-charts .face-card")
    assert summary["left"] >= photo["right"] and summary["top"] < photo["bottom"]
    assert grid["top"] > max(photo["bottom"], summary["bottom"])
    page_width = dash_duo.driver.execute_script("return document.documentElement.clientWidth")
    assert grid["width"] > 0.9 * page_width and photo["width"] + summary["width"] > 0.85 * page_width
    assert grid["width"] // first["width"] >= 6, "at least six faces per row at 1400 px"
    assert len(dash_duo.driver.find_elements(By.CSS_SELECTOR, "#photo-charts .face-card")) == 57
    height = dash_duo.driver.execute_script("return document.documentElement.scrollHeight")
    assert height < 3200, f"the page is {height} px tall"  # it was 6,500 with a chart per face in 4 columns
    assert dash_duo.find_element("#photo-details").get_attribute("open") is None, "the 57-row table is folded"
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "photo_class57.png"))  # 1400 x 1000, as a reader first sees it
    dash_duo.driver.execute_script("document.getElementById('photo-summary').scrollIntoView()")
    dash_duo.driver.set_window_size(1400, height + 140)
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "photo_class57_full.png"))
    errors = browser_errors(dash_duo)
    assert errors == [], f"browser console errors: {errors}"
    assert not db.exists()
