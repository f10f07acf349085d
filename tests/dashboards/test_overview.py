"""The Sessions overview: its chart of each session's mean engagement by date, and the table's trend sparklines.

The browser test drives the real dashboard app in Debian's headless Chromium (dash[testing]) over a real SQLite
database written through the Store; it saves test-artifacts/dashboard/overview-term.png at 1400 x 1000.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboards.overview_chart import sessions_by_date
from dashboards.views import spark_range, sparkline
from engage.config import load_config
from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics
from engage.store.database import open_store
from engage.store.overview import SessionSummary
from engage.store.schema import SessionInfo

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"

# A term of one course: two sessions on its first day, then one a week; engagement that moves within 0.4-0.7,
# as real lectures do (the old sparkline drew 0.54-0.68 as four nearly equal blocks).
TERM = {
    "Physics 101, week 1": (datetime(2026, 10, 5, 9, tzinfo=UTC), [0.54, 0.60, 0.68, 0.62]),
    "Physics lab 1": (datetime(2026, 10, 5, 14, tzinfo=UTC), [0.40, 0.45, 0.50]),
    "Physics 101, week 2": (datetime(2026, 10, 12, 9, tzinfo=UTC), [0.66, 0.61, 0.57, 0.55]),
    "Physics 101, week 3": (datetime(2026, 10, 19, 9, tzinfo=UTC), [0.58, 0.59, 0.60, 0.58]),
}


def minute(i: int, engagement: float) -> MinuteMetrics:
    share = dict.fromkeys(EMOTIONS, 1 / len(EMOTIONS))
    return MinuteMetrics(
        minute=i,
        start_s=i * 60.0,
        end_s=i * 60 + 59.0,
        frames_sampled=60,
        frames_expected=60,
        faces_total=20 * 60,
        faces_mean=20.0,
        faces_max=21,
        suppressed=False,
        emotion_mean=dict(share),
        emotion_top_share=dict(share),
        dominant_emotion="neutral",
        valence=0.0,
        engagement=engagement,
        engagement_high=0.3,
        engagement_nominal=0.6,
        engagement_low=0.1,
    )


@pytest.fixture(scope="module")
def term(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("overview") / "engage.db"
    ids = {}
    with open_store(path) as store:
        for name, (started, values) in TERM.items():
            sid = store.create_session(name, f"/videos/{name}.mp4", "video", 1.0, "test", {}, started_at=started)
            for i, value in enumerate(values):
                store.add_minute(sid, minute(i, value))
            store.finish_session(sid, "completed", media_duration_s=60.0 * len(values))
            ids[name] = sid
    return {"path": path, "ids": ids}


def _browser_missing() -> str | None:
    if not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"):
        return "Chromium or chromedriver missing: apt-get install -y chromium chromium-driver (.ci/run does)"
    try:
        import dash.testing.browser  # noqa: F401
    except ImportError:
        return 'dash[testing] not installed (pip install -e ".[dev]")'
    return None


@pytest.mark.skipif(_browser_missing() is not None, reason=_browser_missing() or "")
def test_overview_chart_names_each_session_by_date_and_sparklines_use_its_range(dash_duo, term: dict) -> None:
    from dash.testing.wait import until
    from selenium.webdriver.common.action_chains import ActionChains

    from dashboards.app import create_app

    ids = term["ids"]
    dash_duo.start_server(create_app(str(term["path"]), load_config(None, environ={})))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.wait_for_text_to_equal("h1", "Lecture sessions", timeout=10)
    dash_duo.wait_for_element(f'#overview-table a[href="/session/{ids["Physics lab 1"]}"]', timeout=10)
    chart = "document.querySelector('#overview-chart .js-plotly-plot')"
    until(lambda: dash_duo.driver.execute_script(f"const el = {chart}; return !!(el && el.data && el.data.length)"), 10)

    # One point per session, in date order; the two sessions of 5 October stand apart on that day.
    trace = dash_duo.driver.execute_script(f"const t = {chart}.data[0]; return {{x: t.x, y: t.y, c: t.customdata}};")
    assert [c[1] for c in trace["c"]] == list(TERM)
    assert [round(y, 6) for y in trace["y"]] == [round(sum(v) / len(v), 6) for _, v in TERM.values()]
    assert trace["x"][0][:10] == trace["x"][1][:10] == "2026-10-05" and trace["x"][0] < trace["x"][1]
    # The axis counts days (it showed hours of the day before), and its ticks say which.
    ticks = [t.text for t in dash_duo.driver.find_elements("css selector", "#overview-chart .xtick text")]
    assert ticks and all(":" not in t for t in ticks) and any("Oct" in t for t in ticks), ticks

    # Names are written beside the points where they fit (week 1 has lab 1 right beside it: hover only).
    written = [t.text for t in dash_duo.driver.find_elements("css selector", "#overview-chart .textpoint") if t.text]
    assert written == ["Physics lab 1", "Physics 101, week 2", "Physics 101, week 3"], written
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.3)
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "overview-term.png"))  # 1400 x 1000, as a reader first sees it
    # Hovering a point names its session with its figures.
    dash_duo.driver.execute_script(f"Plotly.Fx.hover({chart}, [{{curveNumber: 0, pointNumber: 1}}]);")
    dash_duo.wait_for_contains_text("#overview-chart .hoverlayer", "Physics lab 1", timeout=5)
    label = dash_duo.find_element("#overview-chart .hoverlayer").text
    assert f"#{ids['Physics lab 1']}" in label and "mean engagement 0.45" in label and "0.40–0.50" in label, label
    dash_duo.driver.save_screenshot(str(ARTIFACTS / "overview-term-hover.png"))

    # The table's trend runs from the session's own lowest part to its highest, with the range written beside it.
    def cell(name: str, column: str) -> str:
        return dash_duo.find_element(f'#overview-table .ag-row[row-id="{ids[name]}"] [col-id="{column}"]').text.strip()

    assert cell("Physics 101, week 1", "trend") == "▁▄█▅" and cell("Physics 101, week 1", "spread") == "0.54–0.68"
    assert cell("Physics 101, week 2", "trend").startswith("█") and cell("Physics 101, week 2", "spread") == "0.55–0.66"
    steady = cell("Physics 101, week 3", "trend")
    assert "▁" not in steady and "█" not in steady, steady  # 0.58-0.60 is steady, not a full swing
    widths = dash_duo.driver.execute_script(
        "const v = document.querySelector('#overview-table .ag-center-cols-viewport');"
        "return [v.scrollWidth, v.clientWidth];"
    )
    assert widths[0] <= widths[1] + 1, f"the table scrolls sideways at 1400 px: {widths}"

    # Clicking a point opens its session.
    point = dash_duo.driver.find_elements("css selector", "#overview-chart .scatterlayer .point")[2]
    ActionChains(dash_duo.driver).move_to_element(point).click().perform()
    dash_duo.wait_for_text_to_equal("#session-title", "Physics 101, week 2", timeout=10)
    assert dash_duo.driver.current_url.endswith(f"/session/{ids['Physics 101, week 2']}")
    assert dash_duo.get_logs() == [], "browser console not clean"


def summary(sid: int, name: str, started: datetime, parts: list[float | None]) -> SessionSummary:
    info = SessionInfo(sid, name, "/v.mp4", "video", "completed", None, started, None, 60.0 * len(parts), 1.0, "m")
    known = [p for p in parts if p is not None]
    return SessionSummary(info, len(parts) - 1, 80, 20.0, 21, 0, sum(known) / len(known), parts)


def test_sessions_of_one_day_are_spread_over_a_day_axis_and_named() -> None:
    # A newcomer's database: the demo and two lectures analysed the same morning.
    day = [
        summary(1, "demo: carphone", datetime(2026, 12, 5, 8, 22, tzinfo=UTC), [0.49]),
        summary(2, "Physics 101, week 3", datetime(2026, 12, 5, 8, 40, tzinfo=UTC), [0.6, 0.7]),
        summary(3, "Physics 101, week 4", datetime(2026, 12, 5, 9, 5, tzinfo=UTC), [0.5, 0.65]),
    ]
    figure = sessions_by_date(day, 0.25, 0.65)
    (trace,) = figure["data"]
    axis = figure["layout"]["xaxis"]
    assert axis["type"] == "date" and "%H" not in axis["tickformat"] and axis["dtick"] == 86_400_000
    start, end = (datetime.fromisoformat(v) for v in axis["range"])
    assert (end - start).days >= 2  # a day and its margins: the three points are not squeezed into 43 minutes
    xs = [datetime.fromisoformat(v) for v in trace["x"]]
    assert xs == sorted(xs) and min(b - a for a, b in zip(xs, xs[1:], strict=False)).total_seconds() >= 6 * 3600
    assert trace["mode"] == "markers+text" and trace["text"] == [s.session.name for s in day]
    spread = trace["error_y"]  # session 2's parts run 0.6-0.7 around its mean 0.65
    assert spread["array"][1] == pytest.approx(0.05) and spread["arrayminus"][1] == pytest.approx(0.05)
    long = sessions_by_date([summary(4, "Physics 101: Electricity and magnetism", xs[0], [0.5])], 0.25, 0.65)
    assert long["data"][0]["text"] == ["Physics 101: Electricity…"]


def test_many_sessions_are_named_on_hover_only_and_a_long_span_ticks_by_month() -> None:
    dates = [datetime(2026, 1 + i // 5, 1 + i % 5 * 5, 9, tzinfo=UTC) for i in range(30)]  # January to June
    term = [summary(i, f"Lecture {i}", started, [0.5]) for i, started in enumerate(dates)]
    figure = sessions_by_date(term, 0.25, 0.65)
    assert figure["data"][0]["mode"] == "markers" and "Lecture 7" in str(figure["data"][0]["customdata"])
    assert figure["layout"]["xaxis"]["dtick"] == "M1"


def test_sparkline_spans_the_sessions_own_range() -> None:
    assert sparkline([0.54, 0.60, 0.68, 0.62]) == "▁▄█▅"  # was "▅▅▆▅": 0-1 in eight levels
    assert sparkline([0.2, None, 0.9]) == "▁·█" and spark_range([0.2, None, 0.9]) == "0.20–0.90"
    flat = sparkline([0.6, 0.6, 0.6])
    assert len(set(flat)) == 1 and flat[0] not in "▁█"  # steady: a level line in the middle, not a swing
    assert spark_range([0.6, 0.6]) == "0.60" and sparkline([None, None]) == "··" and spark_range([None]) == ""
