"""How long one group photo takes: decode + detect + classify + annotate, as `engage classify --annotate` and the
dashboard's "Try a photo" page do it.

The photo is a 1920x1080 "class photo" of 30 real faces (the astronaut from skimage.data, tests/faces.py).
Prints the median of --runs runs in ms per stage, the totals for the page and for the CLI, and the load.

    python benchmarks/photo_speed.py [--faces 30] [--runs 7] [--width 1920 --height 1080]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import common  # noqa: F401  (puts the repo on sys.path)

sys.path.insert(0, str(common.REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=30)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args()

    import cv2
    from faces import group_photo

    from engage.config import load_config
    from engage.vision.annotate import draw_faces, draw_faces_to_fit, encode_jpeg, encode_png, render_panel
    from engage.vision.photos import classify_image, decode_image, photo_analyzer

    image, _ = group_photo(args.faces, (args.width, args.height))
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    started = time.perf_counter()
    analyzer = photo_analyzer(load_config(None))
    load_ms = (time.perf_counter() - started) * 1000
    classify_image(decode_image(jpeg), analyzer)  # warm-up

    keys = ("decode", "detect+classify", "draw+jpeg", "page total", "draw", "png", "panel png", "cli total")
    stages: dict[str, list[float]] = {k: [] for k in keys}
    found = 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        decoded = decode_image(jpeg)
        t1 = time.perf_counter()
        faces = classify_image(decoded, analyzer)
        t2 = time.perf_counter()
        encode_jpeg(draw_faces_to_fit(decoded, faces, 1200), quality=92)  # as the page does
        t3 = time.perf_counter()
        annotated = draw_faces(decoded, faces, numbered=True)  # as classify --annotate does
        t4 = time.perf_counter()
        encode_png(annotated)
        t5 = time.perf_counter()
        encode_png(render_panel(decoded, faces))
        t6 = time.perf_counter()
        found = len(faces)
        page = t3 - t0
        cli = (t2 - t0) + (t6 - t3)
        values = (t1 - t0, t2 - t1, t3 - t2, page, t4 - t3, t5 - t4, t6 - t5, cli)
        for key, value in zip(stages, values, strict=True):
            stages[key].append(value * 1000)

    print(f"{args.width}x{args.height} JPEG ({len(jpeg) / 1e6:.2f} MB), {args.faces} real faces, {found} found")
    print(f"model load (once per process): {load_ms:.0f} ms")
    print(f"median of {args.runs} runs, ms:")
    for key, values in stages.items():
        note = {
            "page total": "  <- decode + detect + classify + draw + JPEG: one upload on the Try a photo page",
            "draw": "  (full size, for the CLI; the live preview draws like this on each frame)",
            "panel png": "  (the photo beside its summary, a chart per face in a grid)",
            "cli total": "  <- decode + detect + classify + draw + both PNGs: one image of classify --annotate",
        }.get(key, "")
        print(f"  {key:16s} {statistics.median(values):7.1f}{note}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
