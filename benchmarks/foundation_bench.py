"""Foundation figures: in-process `index` images/s with a random ViT-B/32, and search latency at 10k rows.

    python benchmarks/foundation_bench.py [--images 200] [--rows 10000] [--threads 2] [--dtype fp32]

Prints a small table and a JSON line. Speeds are for this machine only; compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--model", help="model dir (default: a random ViT-B/32 built here)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import IndexOptions, index
    from store import ImageLibrary
    from tests.model_factory import build_random_clip
    from tests.sample_images import write_photos

    work = Path(tempfile.mkdtemp(prefix="foundation-bench-"))
    model = args.model or str(build_random_clip(work / "vit-b-32", size="vit-b-32"))
    write_photos(work / "photos", args.images, size=(640, 480))
    encoder = ClipEncoder(model, device="cpu", dtype=args.dtype)
    encoder.encode_texts(["warm up"])

    library = ImageLibrary(str(work / "db"))
    report = index(library, encoder, [str(work / "photos")], options=IndexOptions(runner="local"))
    figures = {"index_images": report.indexed, "index_images_per_s": round(report.images_per_second, 2),
               "index_stage_seconds": {k: round(v, 2) for k, v in report.stage_seconds.items()}}

    big = ImageLibrary(str(work / "db"), "big")
    big.ensure(encoder.model_id, encoder.dim, encoder.identity)
    rng = np.random.default_rng(0)
    for start in range(0, args.rows, 5000):
        n = min(5000, args.rows - start)
        vectors = rng.normal(size=(n, encoder.dim)).astype(np.float32)
        big.add([{"id": f"{start + i:064x}", "uri": f"/x/{start + i}.jpg", "format": "JPEG" if i % 2 else "PNG",
                  "file_size": int(rng.integers(1e4, 1e7)), "vector": v} for i, v in enumerate(vectors)])
    queries = ["a photo of a cat", "mountains at dawn", "a red car"]
    search_ms, filtered_ms, end_to_end_ms = [], [], []
    for q in range(args.queries):
        vector = rng.normal(size=encoder.dim).astype(np.float32)
        t0 = time.perf_counter(); big.search(vector, k=10); search_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter(); big.search(vector, k=10, where="format = 'PNG' AND file_size > 100000")
        filtered_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter(); big.search(encoder.encode_texts([queries[q % 3]])[0], k=10)
        end_to_end_ms.append((time.perf_counter() - t0) * 1e3)

    def pct(values, p):
        return round(float(np.percentile(values, p)), 2)

    figures.update({
        "rows": big.count(),
        "search_p50_ms": pct(search_ms, 50), "search_p95_ms": pct(search_ms, 95),
        "filtered_search_p50_ms": pct(filtered_ms, 50), "filtered_search_p95_ms": pct(filtered_ms, 95),
        "text_query_end_to_end_p50_ms": pct(end_to_end_ms, 50),
        "median_check": round(statistics.median(search_ms), 2),
    })
    print(f"index   {figures['index_images']} images 640x480, {args.dtype}: {figures['index_images_per_s']} images/s "
          f"(stages {figures['index_stage_seconds']})")
    print(f"search  {figures['rows']} rows exact: p50 {figures['search_p50_ms']} ms, p95 {figures['search_p95_ms']} ms; "
          f"filtered p50 {figures['filtered_search_p50_ms']} ms; text query incl. encoding p50 "
          f"{figures['text_query_end_to_end_p50_ms']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
