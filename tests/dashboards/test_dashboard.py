"""The dashboard in a real browser (Debian's Chromium, headless, through dash.testing's dash_duo) over a real
SQLite database seeded through the Store; plus its command line, auth and read-only guarantees."""

from __future__ import annotations

import csv
import io
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from minute_samples import attention_fields

from engage.config import load_config
from engage.emotions import EMOTIONS
from engage.errors import EngageError
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import Store, open_store

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "dashboard"


def _browser_missing() -> str | None:
    if shutil.which("chromium") is None and shutil.which("chromium-browser") is None:
        return "Chromium not installed (apt-get install chromium chromium-driver; .ci/run does)"
    if shutil.which("chromedriver") is None:
        return "chromedriver not installed (apt-get install chromium-driver; .ci/run does)"
    try:
        import dash.testing.browser  # noqa: F401
        import selenium  # noqa: F401
    except ImportError:
        return 'dash[testing] not installed (pip install -e ".[dev]")'
    return None


browser = pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")


def _minute(i: int, engagement: float, faces: int = 12, suppressed: bool = False, sure: bool = True) -> MinuteMetrics:
    if suppressed:
        return MinuteMetrics(i, i * 60.0, i * 60 + 59.0, 60, 60, 40, 0.7, 1, True)
    # Shares that differ per minute and sum to 1, so a wrong minute or emotion shows.
    raw = [(k + 1) * (i + 2) % 7 + 1 for k in range(len(EMOTIONS))]
    top = {e: r / sum(raw) for e, r in zip(EMOTIONS, raw, strict=True)}
    return MinuteMetrics(
        minute=i,
        start_s=i * 60.0,
        end_s=i * 60 + 59.0,
        frames_sampled=60,
        frames_expected=60,
        faces_total=faces * 60,
        faces_mean=float(faces),
        faces_max=faces + 1,
        suppressed=False,
        emotion_mean=dict(top),
        emotion_top_share=top,
        dominant_emotion=max(top, key=top.get),
        valence=0.1,
        engagement=engagement,
        engagement_high=0.25,
        engagement_nominal=0.5,
        engagement_low=0.25,
        # 90% intervals and corrected shares; `sure=False` is a minute stored before engage measured them.
        engagement_low90=engagement - 0.08 if sure else None,
        engagement_high90=engagement + 0.06 if sure else None,
        emotion_corrected=top if sure else None,
        emotion_corrected_low90={e: v * 0.6 for e, v in top.items()} if sure else None,
        emotion_corrected_high90={e: v + 0.1 for e, v in top.items()} if sure else None,
        **(attention_fields(i) if sure else {}),  # head pose: people, facing / down / away
    )


LECTURE = [
    _minute(0, 0.71),
    _minute(1, 0.64),
    _minute(2, 0.0, suppressed=True),
    _minute(3, 0.42, sure=False),
    _minute(4, 0.2),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A real SQLite database written through the Store: a finished lecture, a faceless one and a live one."""
    path = tmp_path_factory.mktemp("dashboard") / "engage.db"
    store = open_store(path)
    ids = {}
    ids["lecture"] = store.create_session(
        "Algebra [week 3]",
        "/videos/algebra.mp4",
        "video",
        1.0,
        "test",
        {},
        started_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
    )
    for m in LECTURE:
        store.add_minute(ids["lecture"], m)
    store.finish_session(ids["lecture"], "completed", media_duration_s=300.0)
    ids["faceless"] = store.create_session(
        "Empty room", "camera:0", "camera", 1.0, "test", {}, started_at=datetime(2026, 11, 3, 9, tzinfo=UTC)
    )
    for i in range(2):
        store.add_minute(ids["faceless"], MinuteMetrics(i, i * 60.0, i * 60 + 59.0, 60, 60, 0, 0.0, 0, True))
    store.finish_session(ids["faceless"], "completed", media_duration_s=120.0)
    ids["live"] = store.create_session("Live seminar", "camera:1", "camera", 1.0, "test", {})  # status running
    for i in range(2):
        store.add_minute(ids["live"], _minute(i, 0.5 + 0.1 * i))
    store.close()
    return {"path": path, "ids": ids}


def _config(**dashboard):
    return load_config(
        overrides={"dashboard": {"refresh_seconds": 1.0, **dashboard}} if dashboard else None, environ={}
    )


def _app(db, **dashboard):
    from dashboards.app import create_app

    config = _config(**dashboard)
    return create_app(str(db), config, refresh_seconds=1.0)


def _shot(dash_duo, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = dash_duo.driver.execute_script("return document.documentElement.scrollHeight")
    dash_duo.driver.set_window_size(1400, max(900, min(int(height) + 160, 4000)))
    time.sleep(0.5)
    dash_duo.driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def _plot(dash_duo, graph_id: str) -> list[dict]:
    return dash_duo.driver.execute_script(
        "const el = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "return el && el.data ? el.data.map(t => "
        "({name: t.name, mode: t.mode, x: t.x, y: t.y, customdata: t.customdata})) : null;",
        f"#{graph_id}",
    )


def _wait_plot(dash_duo, graph_id: str, check, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    data = None
    while time.monotonic() < deadline:
        data = _plot(dash_duo, graph_id)
        if data and check(data):
            return data
        time.sleep(0.2)
    raise AssertionError(f"{graph_id} never showed the expected data; last seen: {data}")


def _index_line(traces: list[dict]) -> dict:
    """The engagement index's own line among the engagement chart's traces (its 90% band is drawn first)."""
    return next(t for t in traces if t["name"] == "engagement index")


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@browser
def test_overview_session_page_and_csv(dash_duo, seeded: dict) -> None:
    from dash.testing.wait import until

    ids = seeded["ids"]
    dash_duo.start_server(_app(seeded["path"]))
    dash_duo.wait_for_text_to_equal("h1", "Lecture sessions", timeout=10)
    until(lambda: dash_duo.driver.title == "engage — sessions", timeout=10)  # each page titles the tab
    dash_duo.wait_for_element(f'#overview-table a[href="/session/{ids["lecture"]}"]', timeout=10)
    table = dash_duo.find_element("#overview-table").text
    for name in ("Algebra [week 3]", "Empty room", "Live seminar"):
        assert name in table
    assert "2026-11-02 09:00" in table and "5:00" in table  # date and length of the lecture
    assert "Compare" in dash_duo.find_element(".navbar").text
    _wait_plot(dash_duo, "overview-chart", lambda d: len(d[0]["y"]) == 2)  # the two sessions with engagement
    _shot(dash_duo, "overview")

    dash_duo.find_element(f'#overview-table a[href="/session/{ids["lecture"]}"]').click()
    dash_duo.wait_for_text_to_equal("#session-title", "Algebra [week 3]", timeout=10)
    until(lambda: dash_duo.driver.title == "engage — session", timeout=10)
    emotions = _wait_plot(dash_duo, "emotion-timeline", lambda d: len([t for t in d if t["customdata"]]) == 7)
    # The browser's timeline holds each seeded minute's shares; the suppressed minute is a gap, not zeros.
    shares = {t["name"]: t["customdata"] for t in emotions if t["customdata"]}
    assert set(shares) == set(EMOTIONS)
    for m in LECTURE:
        for e in EMOTIONS:
            expected = None if m.suppressed else m.emotion_top_share[e]
            assert _close(shares[e][m.minute], expected), (m.minute, e, shares[e][m.minute], expected)
    traces = _wait_plot(dash_duo, "engagement-timeline", lambda d: any(t["name"] == "engagement index" for t in d))
    engagement = _index_line(traces)
    assert engagement["x"] == [1, 2, 3, 4, 5]
    assert [None if v is None else round(v, 6) for v in engagement["y"]] == [0.71, 0.64, None, 0.42, 0.2]
    # The 90% band behind it: each minute's interval, a gap for the hidden minute and the one stored without.
    band = [t for t in traces if t["name"] == "90% interval" and t["customdata"]][0]["customdata"]
    assert [None if lo is None else round(lo, 6) for lo, _ in band] == [0.63, 0.56, None, None, 0.12]
    # Attention under the emotions: facing / down / away stacked per minute, gaps where nothing measured them.
    attention = _wait_plot(dash_duo, "attention-timeline", lambda d: len(d) == 4)
    assert [t["name"] for t in attention[:3]] == ["facing the front", "looking down", "turned away"]
    for trace, state in zip(attention, ("facing", "down", "away"), strict=False):
        expected = [None if m.suppressed else m.to_row()[f"attention_{state}"] for m in LECTURE]
        assert trace["x"] == [1, 2, 3, 4, 5]
        assert all(_close(a, b) for a, b in zip(trace["y"], expected, strict=True)), (state, trace["y"], expected)
    assert dash_duo.find_element("#attention-chart").is_displayed()
    assert dash_duo.find_element("#attention-note").text == ""
    assert dash_duo.find_element("#attention-timeline .barlayer .point")  # drawn: bars, not just data
    facts = dash_duo.find_element("#session-facts").text
    assert "Attention (facing / down / away)" in facts and "People (most in a minute)" in facts
    corrected = _wait_plot(dash_duo, "corrected-shares", lambda d: len([t for t in d if t["name"]]) == 7)
    neutral = [t for t in corrected if t["name"] == "neutral"][0]
    expected = [None if m.suppressed or not m.emotion_corrected else m.emotion_corrected["neutral"] for m in LECTURE]
    assert all(_close(a, b) for a, b in zip(neutral["y"], expected, strict=True)), (neutral["y"], expected)
    faces = _wait_plot(dash_duo, "faces-timeline", lambda d: len(d) == 2)
    assert faces[0]["y"] == [12, 12, 12, 12] and faces[1]["x"] == [3]  # suppressed minute keeps its count
    assert _wait_plot(dash_duo, "dominant-emotions", lambda d: len(d[0]["y"]) == 7)
    assert "Recording" not in dash_duo.find_element("#session-live").text
    assert f"engage export sheets {ids['lecture']}" in dash_duo.find_element("#sheets-hint").text
    _shot(dash_duo, "session")

    # Hovering a minute shows its exact figures (plotly draws the label into the chart's .hoverlayer).
    plot = dash_duo.find_element("#emotion-timeline .nsewdrag")
    # Minute 1 of 5 (x range 0.5..5.5): a tenth of the way across. Scripted, as selenium 4.2 and 4.3+ disagree
    # on where move_to_element_with_offset counts from.
    dash_duo.driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "arguments[0].dispatchEvent(new MouseEvent('mousemove', {bubbles: true,"
        " clientX: r.left + r.width * 0.1, clientY: r.top + r.height / 2}));",
        plot,
    )
    dash_duo.wait_for_contains_text("#emotion-timeline .hoverlayer", "neutral:", timeout=5)
    label = dash_duo.find_element("#emotion-timeline .hoverlayer").text
    assert f"neutral: {LECTURE[0].emotion_top_share['neutral']:.0%}" in label, label
    _shot(dash_duo, "session-hover")

    dash_duo.find_element("#csv-button").click()
    target = Path(dash_duo.download_path) / f"Algebra-week-3-{ids['lecture']}.csv"
    deadline = time.monotonic() + 10
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert target.is_file(), list(Path(dash_duo.download_path).iterdir())
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    stored = Store(seeded["path"]).minutes(ids["lecture"])
    assert len(rows) == len(stored) == 5
    for row, m in zip(rows, stored, strict=True):
        expected = m.to_row()
        assert row["session_id"] == str(ids["lecture"]) and row["session_name"] == "Algebra [week 3]"
        assert int(row["minute"]) == m.minute + 1 and int(row["faces_total"]) == m.faces_total  # 1-based
        for key in ("engagement", "valence", "faces_mean", "mean_neutral", "share_happy", "corrected_fear_high90"):
            value = expected[key]
            assert (row[key] == "") if value is None else math.isclose(float(row[key]), value), (key, row[key], value)

    dash_duo.driver.get(dash_duo.server_url + f"/compare?ids={ids['lecture']},{ids['live']}")
    compare = _wait_plot(dash_duo, "compare-chart", lambda d: len(d) == 2)
    assert all("markers" in trace["mode"] for trace in compare)  # a lone minute is drawn, not just lines
    assert [t["name"] for t in compare] == [f"#{ids['lecture']} Algebra [week 3]", f"#{ids['live']} Live seminar"]
    _shot(dash_duo, "compare")
    assert dash_duo.get_logs() == [], "browser console not clean"


@browser
def test_live_session_updates_without_reload(dash_duo, seeded: dict) -> None:
    sid = seeded["ids"]["live"]
    dash_duo.start_server(_app(seeded["path"]))
    dash_duo.wait_for_page(url=dash_duo.server_url + f"/session/{sid}", timeout=10)
    dash_duo.wait_for_text_to_equal("#session-title", "Live seminar", timeout=10)
    assert "Recording" in dash_duo.find_element("#session-live").text
    _wait_plot(dash_duo, "engagement-timeline", lambda d: len(_index_line(d)["y"]) == 2)
    dash_duo.driver.execute_script("window.__sameDocument = true")  # gone if the page reloads

    writer = open_store(seeded["path"])  # the recorder's side: a new minute arrives
    writer.add_minute(sid, _minute(2, 0.9))
    line = _index_line(_wait_plot(dash_duo, "engagement-timeline", lambda d: len(_index_line(d)["y"]) == 3, 15))
    assert round(line["y"][2], 6) == 0.9
    assert dash_duo.driver.execute_script("return window.__sameDocument === true")
    _shot(dash_duo, "live-session")

    writer.finish_session(sid, "completed", media_duration_s=180.0)
    writer.close()
    dash_duo.wait_for_text_to_equal("#session-live", "", timeout=15)  # finished: no longer live
    assert dash_duo.get_logs() == [], "browser console not clean"


@browser
def test_empty_states(dash_duo, seeded: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nothing-yet" / "engage.db"
    dash_duo.start_server(_app(missing))
    dash_duo.wait_for_contains_text(".empty-state", "No database yet", timeout=10)
    assert "engage analyze" in dash_duo.find_element(".empty-state").text
    _shot(dash_duo, "empty-no-database")
    assert not missing.exists() and not missing.parent.exists(), "the dashboard created a database"

    empty = tmp_path / "empty.db"
    open_store(empty).close()
    dash_duo.server.stop()  # the runner serves one app at a time
    dash_duo.start_server(_app(empty))
    dash_duo.wait_for_contains_text(".empty-state", "No sessions yet", timeout=10)
    _shot(dash_duo, "empty-no-sessions")

    dash_duo.server.stop()
    dash_duo.start_server(_app(seeded["path"]))
    dash_duo.wait_for_page(url=dash_duo.server_url + f"/session/{seeded['ids']['faceless']}", timeout=10)
    dash_duo.wait_for_contains_text(".empty-state", "No faces were detected", timeout=10)
    _shot(dash_duo, "empty-no-faces")
    dash_duo.wait_for_page(url=dash_duo.server_url + "/session/999", timeout=10)
    dash_duo.wait_for_contains_text(".empty-state", "No such session", timeout=10)
    assert dash_duo.get_logs() == [], "browser console not clean"

    older = tmp_path / "older.db"  # a session analysed before engage measured head pose
    with open_store(older) as store:
        sid = store.create_session("Before head pose", "/videos/old.mp4", "video", 1.0, "test", {})
        for i in range(3):
            store.add_minute(sid, _minute(i, 0.5, sure=False))
        store.finish_session(sid, "completed", media_duration_s=180.0)
    dash_duo.server.stop()
    dash_duo.start_server(_app(older))
    dash_duo.wait_for_page(url=dash_duo.server_url + f"/session/{sid}", timeout=10)
    dash_duo.wait_for_contains_text("#attention-note", "before engage measured head pose", timeout=10)
    _wait_plot(dash_duo, "emotion-timeline", lambda d: len([t for t in d if t["customdata"]]) == 7)
    assert not dash_duo.find_element("#attention-chart").is_displayed()  # a note, not an empty chart
    assert dash_duo.find_element("#emotion-timeline").is_displayed()
    _shot(dash_duo, "session-before-head-pose")
    assert dash_duo.get_logs() == [], "browser console not clean"


# ------------------------------------------------------------------------------------------ no browser


def test_dashboard_never_writes(seeded: dict) -> None:
    from dashboards.data import DataSource
    from dashboards.views import overview_view, session_view

    path = seeded["path"]
    before = (path.stat().st_mtime_ns, path.read_bytes())
    source = DataSource(str(path), _config())
    assert len(overview_view(source).rows) == 3
    assert session_view(source, seeded["ids"]["lecture"]).info is not None
    store = source.store()
    assert isinstance(store, Store)
    from engage.errors import EngageError

    with pytest.raises(EngageError, match="read-only"):
        store.create_session("x", "y", "video", 1.0, "m", {})
    source.close()
    # (SQLite may add its -wal/-shm index files to read a WAL database; the database itself is untouched.)
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before


def test_session_csv_download_is_the_export_with_flat_numbers(seeded: dict) -> None:
    from dashboards.data import DataSource
    from dashboards.views import session_csv
    from engage.export import csv_text, minutes_frame

    sid = seeded["ids"]["lecture"]
    source = DataSource(str(seeded["path"]), _config())
    try:
        found = session_csv(source, sid)
        store = source.store()
        assert isinstance(store, Store)
        expected = csv_text(minutes_frame(store, store.get_session(sid)))
    finally:
        source.close()
    assert found is not None
    name, text = found
    assert name == f"Algebra-week-3-{sid}.csv" and text == expected  # byte for byte what `engage export` writes
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["minute"]) for r in rows] == [1, 2, 3, 4, 5]  # 1 = the first minute, as the charts count
    for e in EMOTIONS:
        assert float(rows[0][f"share_{e}"]) == pytest.approx(LECTURE[0].emotion_top_share[e])
    assert rows[2]["suppressed"] == "True" and rows[2]["mean_happy"] == "" and rows[2]["share_happy"] == ""


# The request the page makes when its address changes: Dash's router callback.
ROUTE_CALLBACK = {
    "output": "..page-content.children...page-title.data..",
    "outputs": [{"id": "page-content", "property": "children"}, {"id": "page-title", "property": "data"}],
    "inputs": [
        {"id": "page-location", "property": "pathname", "value": "/"},
        {"id": "page-location", "property": "search", "value": ""},
    ],
    "changedPropIds": ["page-location.pathname"],
    "state": [],
}


def test_basic_auth_when_credentials_are_set(seeded: dict) -> None:
    import base64

    app = _app(seeded["path"], username="prof", password="s3cret")
    client = app.server.test_client()
    assert client.get("/").status_code == 401
    token = base64.b64encode(b"prof:s3cret").decode()
    assert client.get("/", headers={"Authorization": f"Basic {token}"}).status_code == 200
    wrong = base64.b64encode(b"prof:nope").decode()
    assert client.get("/", headers={"Authorization": f"Basic {wrong}"}).status_code == 401


def test_auth_guards_the_callback_route_before_reading_the_request(seeded: dict) -> None:
    import base64

    app = _app(seeded["path"], username="prof", password="s3cret")
    client = app.server.test_client()
    good = {"Authorization": "Basic " + base64.b64encode(b"prof:s3cret").decode()}
    route = ROUTE_CALLBACK
    for body in ({}, [], route, {"output": 1}):  # dash-auth answered {} with a 500 and a KeyError in the log
        assert client.post("/_dash-update-component", json=body).status_code == 401
    for header in ("Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic //46/w=="):
        assert client.post("/_dash-update-component", json=route, headers={"Authorization": header}).status_code == 401
    assert client.get("/_dash-layout").status_code == 401 and client.get("/_dash-dependencies").status_code == 401
    assert client.post("/_dash-update-component", json=route, headers=good).status_code == 200
    assert client.post("/_dash-update-component", json={}, headers=good).status_code == 400  # not a callback
    assert client.post("/_dash-update-component", json=[1], headers=good).status_code == 400


def test_callback_requests_the_app_did_not_declare_are_refused_not_crashed(seeded: dict) -> None:
    client = _app(seeded["path"]).server.test_client()
    route = ROUTE_CALLBACK
    assert client.post("/_dash-update-component", json=route).status_code == 200
    unknown = {**route, "output": "nothing.children", "outputs": {"id": "nothing", "property": "children"}}
    no_property = {**route, "inputs": [{"id": "page-location"}, route["inputs"][1]]}  # was a KeyError, a 500
    other_input = {**route, "inputs": [{"id": "elsewhere", "property": "pathname", "value": "/"}, route["inputs"][1]]}
    too_few = {**route, "inputs": route["inputs"][:1]}
    bad_changed = {**route, "changedPropIds": [5]}
    for body in (unknown, no_property, other_input, too_few, bad_changed):
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 400 and b"not a Dash callback request" in response.data, body
    # The declared callback with values the page never sends: the router treats them as no path at all.
    odd_values = {**route, "inputs": [{**route["inputs"][0], "value": 5}, {**route["inputs"][1], "value": [1]}]}
    assert client.post("/_dash-update-component", json=odd_values).status_code == 200


def test_requests_larger_than_a_photo_upload_are_refused_unread(seeded: dict) -> None:
    from dashboards.app import MAX_REQUEST_BYTES
    from engage.vision.photos import MAX_IMAGE_BYTES

    assert 4 * MAX_IMAGE_BYTES / 3 < MAX_REQUEST_BYTES < 2 * MAX_IMAGE_BYTES  # a photo at the limit fits, not more
    client = _app(seeded["path"]).server.test_client()
    big = b'{"output": "x", "outputs": {}, "inputs": [], "pad": "' + b"x" * MAX_REQUEST_BYTES + b'"}'
    response = client.post("/_dash-update-component", data=big, content_type="application/json")
    assert response.status_code == 413


def test_dashboard_csv_holds_no_live_formula(tmp_path: Path) -> None:
    from dashboards.data import DataSource
    from dashboards.views import session_csv

    path = tmp_path / "formulas.db"
    with open_store(path) as store:
        sid = store.create_session('=HYPERLINK("http://evil","x")', "/v.mp4", "video", 1.0, "m", {})
        store.add_minute(sid, _minute(0, 0.5))
    source = DataSource(str(path), _config())
    try:
        _name, text = session_csv(source, sid)
    finally:
        source.close()
    (row,) = csv.DictReader(io.StringIO(text))
    assert row["session_name"] == '\'=HYPERLINK("http://evil","x")'


def test_navigation_lists_every_page_without_a_path_variable(seeded: dict) -> None:
    from dashboards.pages import discover

    app = _app(seeded["path"])
    (nav,) = [c for c in app.layout.children if getattr(c, "className", None) == "navbar"]
    hrefs = [link.href for link in nav.children[1:]]
    expected = [p.path for p in discover() if p.in_navigation]
    assert hrefs == expected == ["/", "/compare", "/photo"]  # in their order; /session/<id> is reached by links


def _route(app, pathname: str, search: str = "") -> tuple[dict, str]:
    """What the app's router renders for a URL (the request dcc.Location makes when the URL changes)."""
    ids = [("page-content", "children"), ("page-title", "data")]
    body = {
        "output": "".join(f"..{i}.{p}.." for i, p in ids).replace("....", "..."),
        "outputs": [{"id": i, "property": p} for i, p in ids],
        "inputs": [
            {"id": "page-location", "property": "pathname", "value": pathname},
            {"id": "page-location", "property": "search", "value": search},
        ],
        "changedPropIds": ["page-location.pathname"],
        "state": [],
    }
    response = app.server.test_client().post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()["response"]
    return answer["page-content"]["children"], answer["page-title"]["data"]


def test_each_app_routes_its_pages_over_its_own_database(seeded: dict, tmp_path: Path) -> None:
    import json

    first, second = _app(seeded["path"]), _app(tmp_path / "other.db")
    sid = seeded["ids"]["lecture"]
    page, title = _route(first, f"/session/{sid}/")
    assert title == "engage — session" and json.dumps(page).count(f'"data": "{sid}"') == 1  # the path's variable
    page, title = _route(first, "/compare", f"?ids={sid},999")
    assert title == "engage — compare sessions" and f'"value": [{sid}]' in json.dumps(page)  # the query, known ids
    page, title = _route(first, "/no/such/page")
    assert "Page not found" in json.dumps(page) and title.endswith("page not found")
    assert "Empty room" in json.dumps(_route(first, "/compare")[0])  # the seeded sessions to pick from
    assert "No sessions with minutes yet" in json.dumps(_route(second, "/compare")[0])  # the other database


def _engage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engage", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org", "", "127.0.0.1.nip.io"])
def test_any_address_but_loopback_needs_credentials(host: str) -> None:
    from dashboards.app import check_bind

    with pytest.raises(EngageError, match="without credentials"):
        check_bind(host, _config())
    check_bind(host, _config(username="prof", password="s3cret"))
    for loopback in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        check_bind(loopback, _config())


def test_cli_refuses_public_address_without_credentials(tmp_path: Path) -> None:
    result = _engage("dashboard", "--db", str(tmp_path / "x.db"), "--host", "0.0.0.0", "--port", "8999")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refusing to serve the dashboard on 0.0.0.0 without credentials" in lines[0]
    assert "Traceback" not in result.stderr and not (tmp_path / "x.db").exists()
    half = _engage(
        "dashboard", "--host", "0.0.0.0", env={"ENGAGE_DASHBOARD__USERNAME": "prof", "ENGAGE_HOME": str(tmp_path)}
    )
    assert half.returncode != 0 and "must be set together" in half.stderr


def test_overview_is_two_queries_with_the_right_figures(seeded: dict) -> None:
    from sqlalchemy import event

    from dashboards.data import DataSource
    from dashboards.views import overview_view
    from engage.store.database import open_store_read_only

    store = open_store_read_only(seeded["path"])
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    summaries = {s.session.id: s for s in store.overview()}
    assert len(statements) == 2, statements
    lecture = summaries[seeded["ids"]["lecture"]]
    faces = [m.faces_total for m in LECTURE if not m.suppressed]
    expected = sum(m.engagement * m.faces_total for m in LECTURE if not m.suppressed) / sum(faces)
    assert math.isclose(lecture.mean_engagement, expected)
    assert lecture.session.minutes == 5 and lecture.last_minute == 4 and lecture.suppressed_minutes == 1
    assert math.isclose(lecture.faces_mean, sum(m.faces_total for m in LECTURE) / 300)
    assert lecture.sparkline[2] is None and math.isclose(lecture.sparkline[0], 0.71)  # one part per minute
    assert len(lecture.sparkline) == 5
    faceless = summaries[seeded["ids"]["faceless"]]
    assert faceless.mean_engagement is None and faceless.faces_mean == 0
    store.close()

    source = DataSource(str(seeded["path"]), _config())
    assert [r["id"] for r in overview_view(source, "2026-11-02", "2026-11-02").rows] == [seeded["ids"]["lecture"]]
    assert len(overview_view(source, "2026-11-02", None).rows) == 3
    empty = overview_view(source, "2020-01-01", "2020-01-02")
    assert empty.rows == [] and empty.message and "date range" in empty.message.advice
    source.close()


def test_two_apps_in_one_process_each_get_their_callbacks_once(seeded: dict, tmp_path: Path) -> None:
    first, second = _app(seeded["path"]), _app(tmp_path / "other.db")
    for app in (second, first):
        client = app.server.test_client()
        assert client.get("/").status_code == 200
        outputs = [d["output"] for d in client.get("/_dash-dependencies").get_json()]
        assert len(outputs) == len(set(outputs)) and any("overview-table.rowData" in o for o in outputs)
