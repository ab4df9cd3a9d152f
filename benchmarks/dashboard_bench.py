"""Time from pressing Search to the results grid being drawn (thumbnails loaded), in a real browser.

Builds a library of --rows hand-made rows (random vectors, small JPEG thumbnails) for a tiny random
CLIP, starts `streamlit run dashboard/app.py` on a free loopback port and drives Debian's chromium
with Playwright. Usage:

    OMP_NUM_THREADS=2 python benchmarks/dashboard_bench.py --rows 10000 --searches 20 --k 20
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402


def build(root: Path, rows: int) -> tuple[str, str]:
    from datetime import datetime, timedelta, timezone

    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary
    from tests.model_factory import build_random_clip
    from tests.sample_images import make_image

    model = str(build_random_clip(root / "model", size="tiny"))
    encoder = ClipEncoder(model, device="cpu")
    db = str(root / "data" / "db")
    library = ImageLibrary(db)
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    thumbs = []
    for seed in range(64):
        buf = io.BytesIO()
        make_image(seed, (128, 96)).save(buf, "JPEG", quality=80)
        thumbs.append(buf.getvalue())
    rng = np.random.default_rng(0)
    now = datetime.now(timezone.utc)
    formats = ["JPEG", "PNG", "WEBP"]
    for start in range(0, rows, 5000):
        batch = []
        for i in range(start, min(rows, start + 5000)):
            batch.append({
                "id": hashlib.sha256(str(i).encode()).hexdigest(), "uri": f"/photos/{i:06d}.jpg",
                "file_name": f"{i:06d}.jpg", "description": "", "tags": ["bench"], "width": 1024, "height": 768,
                "format": formats[i % 3], "file_size": int(rng.integers(50_000, 5_000_000)),
                "indexed_at": now - timedelta(hours=int(i % 500)), "thumbnail": thumbs[i % len(thumbs)],
                "vector": rng.normal(size=encoder.dim).astype(np.float32),
            })
        library.add(batch)
    library.table.optimize()
    return db, model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--k", type=int, default=20, help="results per search (the page's default is 20)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.dashboard_support import DashboardServer, launch_chromium, run_search

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        db, model = build(Path(tmp), args.rows)
        print(f"built {args.rows} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        env = {"IMAGESEARCH_DB": db, "IMAGESEARCH_MODEL": model, "IMAGESEARCH_MEDIA": str(Path(tmp) / "media")}
        with DashboardServer(env) as server, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server.url)
            page.get_by_label("Describe what you are looking for").wait_for(timeout=120_000)
            if args.k != 20:
                raise SystemExit("only --k 20 (the slider's default) is supported by this driver")
            for warm in range(2):  # first search loads the media handler and warms caches
                run_search(page, f"warm up {warm}", args.k, timeout_ms=120_000)
            timings = []
            for i in range(args.searches):
                text = f"query number {i}"
                t = time.perf_counter()
                run_search(page, text, args.k)
                timings.append(time.perf_counter() - t)
            browser.close()
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(round(0.95 * (len(timings) - 1))))]
    print(f"rows={args.rows} k={args.k} searches={args.searches} "
          f"median={statistics.median(timings) * 1000:.0f} ms p95={p95 * 1000:.0f} ms "
          f"min={timings[0] * 1000:.0f} ms max={timings[-1] * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
