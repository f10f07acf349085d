"""Server-side time of the dashboard's callbacks: a 240-minute session page and a 1,000-session overview.

    python benchmarks/dashboard_speed.py [--sessions 1000] [--minutes-each 45] [--long-minutes 240] [--runs 9]

Seeds a temporary SQLite database through the library (Store.create_session; the minutes through the
Store's own row mapping, in one transaction per session), builds the app with dashboards.app.create_app, and
times each callback the way the browser triggers it: a POST to /_dash-update-component through Flask's test
client, so the time covers the database reads, the figures and the JSON response (not the network or the
browser's drawing). Prints the median and the slowest of --runs runs after one warm-up.
Target: each under 300 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import common  # noqa: F401  (puts the repository on sys.path)

from engage.emotions import EMOTIONS
from engage.minutes.metrics import MinuteMetrics


def synthetic_minute(i: int, rng: random.Random, faces: int) -> MinuteMetrics:
    if rng.random() < 0.05:  # a few minutes suppressed for privacy
        return MinuteMetrics(i, i * 60.0, i * 60 + 59.0, 60, 60, 30, 0.5, 1, True)
    weights = [rng.random() for _ in EMOTIONS]
    weights[EMOTIONS.index("neutral")] += 3
    total = sum(weights)
    top = {e: w / total for e, w in zip(EMOTIONS, weights, strict=True)}
    high = rng.random() * 0.5
    low = rng.random() * (1 - high) * 0.5
    engagement = rng.uniform(0.2, 0.9)
    facing = rng.uniform(0.4, 0.9)
    down = rng.uniform(0, 1 - facing)
    return MinuteMetrics(
        minute=i,
        start_s=i * 60.0,
        end_s=i * 60 + 59.0,
        frames_sampled=60,
        frames_expected=60,
        faces_total=faces * 60,
        faces_mean=float(faces),
        faces_max=faces + 2,
        suppressed=False,
        emotion_mean=dict(top),
        emotion_top_share=top,
        dominant_emotion=max(top, key=top.get),
        valence=rng.uniform(-0.5, 0.5),
        engagement=engagement,
        engagement_high=high,
        engagement_nominal=1 - high - low,
        engagement_low=low,
        engagement_low90=max(0.0, engagement - 0.07),
        engagement_high90=min(1.0, engagement + 0.06),
        emotion_corrected=dict(top),
        emotion_corrected_low90={e: v * 0.7 for e, v in top.items()},
        emotion_corrected_high90={e: min(1.0, v * 1.3 + 0.02) for e, v in top.items()},
        people=faces + rng.randint(0, 3),
        attention_facing=facing,
        attention_down=down,
        attention_away=1 - facing - down,
        readable_share=rng.uniform(0.6, 1.0),
        engagement_v1=rng.uniform(0.2, 0.9),
    )


def seed(path: Path, sessions: int, minutes_each: int, long_minutes: int) -> int:
    """Fill the database; returns the id of the long session."""
    from sqlalchemy.orm import Session

    from engage.store.database import minute_db_values, minutes_table, open_store

    store = open_store(path)
    rng = random.Random(7)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    long_id = 0
    for k in range(sessions + 1):
        n = long_minutes if k == 0 else minutes_each
        sid = store.create_session(
            f"Lecture {k + 1}",
            f"/videos/lecture-{k + 1}.mp4",
            "video",
            1.0,
            "bench",
            {},
            started_at=start + timedelta(hours=8 * k),
        )
        long_id = long_id or sid
        faces = rng.randint(8, 60)
        rows = [minute_db_values(sid, synthetic_minute(i, rng, faces)) for i in range(n)]
        with Session(store.engine) as session, session.begin():
            session.execute(minutes_table.insert(), rows)
        store.finish_session(sid, "completed", media_duration_s=n * 60.0)
    store.close()
    return long_id


def callback_request(app, output_ids: list[tuple[str, str]], inputs: list[dict]) -> dict:
    """The JSON body the browser POSTs for a callback with these outputs and inputs."""
    key, _ = find_callback(app, f"{output_ids[0][0]}.{output_ids[0][1]}")
    return {
        "output": key,
        "outputs": [{"id": i, "property": p} for i, p in output_ids]
        if len(output_ids) > 1
        else {"id": output_ids[0][0], "property": output_ids[0][1]},
        "inputs": inputs,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        "state": [],
    }


def find_callback(app, first_output: str) -> tuple[str, dict]:
    for key, spec in app.callback_map.items():
        if first_output in key:
            return key, spec
    raise KeyError(first_output)


def time_callback(client, body: dict, runs: int) -> list[float]:
    times = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        response = client.post("/_dash-update-component", json=body)
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            raise SystemExit(f"callback failed ({response.status_code}): {response.get_data(as_text=True)[:300]}")
        if i:  # the first run warms caches and imports
            times.append(elapsed * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--minutes-each", type=int, default=45)
    parser.add_argument("--long-minutes", type=int, default=240)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    from dashboards.app import create_app
    from engage.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "engage.db"
        t0 = time.perf_counter()
        long_id = seed(path, args.sessions, args.minutes_each, args.long_minutes)
        print(
            f"seeded {args.sessions + 1} sessions ({args.sessions} x {args.minutes_each} min + 1 x "
            f"{args.long_minutes} min) in {time.perf_counter() - t0:.1f} s; {path.stat().st_size / 1e6:.1f} MB"
        )
        app = create_app(str(path), load_config(environ={}))
        client = app.server.test_client()
        client.get("/")  # the first request sets the callbacks up

        outputs = [("overview-table", "rowData"), ("overview-chart", "figure")]
        outputs += [("overview-message", "children"), ("overview-body", "style"), ("overview-toolbar", "style")]
        body = callback_request(
            app,
            outputs,
            [
                {"id": "overview-dates", "property": "start_date", "value": None},
                {"id": "overview-dates", "property": "end_date", "value": None},
            ],
        )
        overview = time_callback(client, body, args.runs)
        rows = len(
            json.loads(client.post("/_dash-update-component", json=body).get_data())["response"]["overview-table"][
                "rowData"
            ]
        )

        outputs = [("session-title", "children"), ("session-facts", "children"), ("session-message", "children")]
        outputs += [("session-charts", "style"), ("emotion-timeline", "figure"), ("attention-timeline", "figure")]
        outputs += [("attention-chart", "style"), ("attention-note", "children"), ("corrected-shares", "figure")]
        outputs += [("engagement-timeline", "figure")]
        outputs += [("faces-timeline", "figure"), ("dominant-emotions", "figure"), ("session-refresh", "disabled")]
        outputs += [("session-live", "children")]
        body = callback_request(
            app,
            outputs,
            [
                {"id": "session-refresh", "property": "n_intervals", "value": None},
                {"id": "session-id", "property": "data", "value": str(long_id)},
            ],
        )
        session = time_callback(client, body, args.runs)
        size = len(client.post("/_dash-update-component", json=body).get_data())

    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    for label, times, target in (
        (f"overview of {rows} sessions", overview, 300),
        (f"session page, {args.long_minutes} minutes ({size / 1e3:.0f} kB response)", session, 300),
    ):
        median = statistics.median(times)
        verdict = "meets" if median < target else "MISSES"
        print(f"{label}: median {median:.0f} ms, slowest {max(times):.0f} ms ({verdict} the {target} ms target)")


if __name__ == "__main__":
    main()
