"""HTTP API throughput and latency for /search, beside the Python API's own, in the same run.

For each table size: builds a table of synthetic rows (random L2-normalised vectors, one shared JPEG
thumbnail; tables from 20,000 rows get the vector index `index` would build), starts
`python -m pipeline serve` on a free loopback port, and drives it with --clients concurrent clients
(a bounded thread pool, one keep-alive session each; 1 and 4 by default) for --requests requests of each kind:

- vector: POST /search {"vector": [...], "k": K}, a precomputed query vector (no encoding);
- text:   GET /search?query=...&k=K, a distinct text each time (encoded by the server's CLIP).

Then the same queries through the Python API in this process (ImageLibrary.search, and
encode_texts + search), with the same number of threads, so the HTTP overhead is the difference.
The model is a random-weight ViT-B/32 (CLIPConfig() shapes, 512-d) unless --model-size tiny. The
server gets this process's OMP_NUM_THREADS: on a busy 2-core machine 2 threads per text encoding made
it ~12x slower than 1 (threads wait on each other at every barrier), so compare like with like.

    OMP_NUM_THREADS=1 python benchmarks/api_bench.py --rows 10000,100000 --clients 1,4 --requests 200
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

BATCH = 25_000
WORDS = "red blue green dog cat beach city night snow forest car boat street portrait sunset river".split()


def build_table(db: str, model_id: str, dim: int, rows: int) -> float:
    from datetime import datetime, timezone

    from PIL import Image

    from store import ImageLibrary, optimize

    started = time.perf_counter()
    library = ImageLibrary(db)
    library.ensure(model_id, dim)
    buf = io.BytesIO()
    Image.new("RGB", (128, 96), (90, 120, 200)).save(buf, "JPEG")
    rng = np.random.default_rng(rows)
    now = datetime.now(timezone.utc)
    for start in range(0, rows, BATCH):
        count = min(BATCH, rows - start)
        vectors = rng.normal(size=(count, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        library.add([{
            "id": hashlib.sha256(f"{rows}-{i}".encode()).hexdigest(), "uri": f"/photos/{i:07d}.jpg",
            "file_name": f"{i:07d}.jpg", "description": "", "tags": ["bench"], "width": 1024, "height": 768,
            "format": "JPEG", "file_size": 100_000 + i, "indexed_at": now, "thumbnail": buf.getvalue(),
            "vector": vectors[i - start],
        } for i in range(start, start + count)])
    if rows >= 20_000:  # what `index` does automatically at this size
        optimize(library)
    return time.perf_counter() - started


def percentiles(latencies: list[float]) -> dict:
    ms = np.asarray(latencies) * 1000
    return {f"p{q}": round(float(np.percentile(ms, q)), 1) for q in (50, 95, 99)}


def drive(call, payloads: list, clients: int) -> dict:
    """Run call(payload) for every payload on `clients` threads; req/s over the wall time, latencies."""
    def timed(payload):
        started = time.perf_counter()
        call(payload)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(timed, payloads))
    wall = time.perf_counter() - started
    return {"req_s": round(len(payloads) / wall, 1), **percentiles(latencies)}


def http_client(url: str):
    import threading

    import requests

    local = threading.local()

    def session():
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def by_vector(vector):
        response = session().post(url + "/search", json={"vector": vector, "k": ARGS.k}, timeout=120)
        assert response.status_code == 200 and len(response.json()["results"]) == ARGS.k, response.text

    def by_text(text):
        response = session().get(url + "/search", params={"query": text, "k": ARGS.k}, timeout=120)
        assert response.status_code == 200 and len(response.json()["results"]) == ARGS.k, response.text

    return by_vector, by_text


def texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, 4)) + f" {i}" for i in range(n)]


def run_size(root: Path, model: str, rows: int) -> list[dict]:
    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary
    from tests.api_server import ApiServer

    encoder = ClipEncoder(model, device="cpu")
    db = str(root / f"db-{rows}")
    build_s = build_table(db, encoder.model_id, encoder.dim, rows)
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(ARGS.requests, encoder.dim)).astype(np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()
    results = [{"rows": rows, "clients": clients, "build_s": round(build_s, 1)} for clients in CLIENTS]
    env = {"IMAGESEARCH_DB": db, "IMAGESEARCH_MODEL": model, "IMAGESEARCH_API_RATE": "0",
           "OMP_NUM_THREADS": os.environ["OMP_NUM_THREADS"]}
    with ApiServer(env, startup_s=300) as server:
        by_vector, by_text = http_client(server.url)
        for warm in range(5):
            by_vector(vectors[warm])
            by_text(f"warm up {warm}")
        for result in results:
            result["http_vector"] = drive(by_vector, vectors, result["clients"])
            result["http_text"] = drive(by_text, texts(ARGS.requests, rows * 10 + result["clients"]), result["clients"])
    library = ImageLibrary(db)
    encoder.encode_texts(["warm up"])
    for warm in range(5):
        library.search(np.asarray(vectors[warm], np.float32), k=ARGS.k)

    def python_vector(v):
        return library.search(np.asarray(v, np.float32), k=ARGS.k)

    def python_text(t):
        return library.search(encoder.encode_texts([t])[0], k=ARGS.k)

    for result in results:
        result["python_vector"] = drive(python_vector, vectors, result["clients"])
        result["python_text"] = drive(python_text, texts(ARGS.requests, rows * 20 + result["clients"]), result["clients"])
    return results


def cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return " ".join(f for f in flags if f.startswith(("avx", "amx")))


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="10000,100000", help="comma-separated table sizes")
    parser.add_argument("--clients", default="1,4", help="comma-separated numbers of concurrent clients (default 1,4)")
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind per size (default 200)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model-size", choices=("vit-b-32", "tiny"), default="vit-b-32")
    parser.add_argument("--json", help="also write the results to this file")
    ARGS = parser.parse_args()
    CLIENTS[:] = [int(c) for c in ARGS.clients.split(",")]
    from tests.model_factory import build_random_clip

    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        root = Path(tmp)
        model = str(build_random_clip(root / "model", size=ARGS.model_size))
        print(f"cpu: {os.cpu_count()} cores, flags {cpu_flags()}; OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; "
              f"model {ARGS.model_size}; {ARGS.clients} clients, {ARGS.requests} requests each, k={ARGS.k}", flush=True)
        results = []
        for rows in (int(r) for r in ARGS.rows.split(",")):
            for result in run_size(root, model, rows):
                results.append(result)
                print(json.dumps(result), flush=True)
    print("\n| rows | clients | query | HTTP req/s | HTTP p50 / p95 / p99 ms | Python req/s | Python p50 / p95 / p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        for kind in ("vector", "text"):
            h, p = r[f"http_{kind}"], r[f"python_{kind}"]
            print(f"| {r['rows']:,} | {r['clients']} | {kind} | {h['req_s']} | {h['p50']} / {h['p95']} / {h['p99']} "
                  f"| {p['req_s']} | {p['p50']} / {p['p95']} / {p['p99']} |")
    if ARGS.json:
        Path(ARGS.json).write_text(json.dumps(results, indent=2))


ARGS: argparse.Namespace
CLIENTS: list[int] = []

if __name__ == "__main__":
    main()
