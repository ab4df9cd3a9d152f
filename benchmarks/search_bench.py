"""Search at scale: latency and recall@10 of LanceDB (exact and indexed), numpy and FAISS, side by side.

    python benchmarks/search_bench.py                                  # 1k, 10k, 100k, 1M; ~25 min on 2 cores
    python benchmarks/search_bench.py --sizes 10000,100000 --queries 200
    python benchmarks/search_bench.py --sizes 100000 --index-types IVF_PQ,IVF_RQ,IVF_HNSW_SQ --sweep

Data: clustered, L2-normalised 512-d float32 vectors (one cluster per ~1000 rows, each cluster a
centre plus a 16-d local subspace plus isotropic noise: a low intrinsic dimension like real CLIP
embeddings). Two query kinds:
  image  fresh points drawn like the table's rows (image-to-image search);
  text   a cluster centre plus a shared "modality gap" offset plus noise, normalised, so their best
         cosine is ~0.3 as for CLIP text queries, and their neighbours sit apart from the partitions
         an index trained on image vectors would put them in.
Ground truth: exact top-10 by numpy (chunked matmul). Latency is per single query, one at a time,
as an interactive search issues them. LanceDB indexes are the ones store/indexes.py plans for the
size (with its probes and refine factor); --sweep also tries other probe/refine settings.
Rows named "product ..." are what the product does: `ImageLibrary.search` (and `search_many`) on a real
image table of the same vectors, optimized as `index` leaves it, with the vector cache at its default
budget, returning full result rows; "product ... 10% filter" adds `format = 'F0'` (a tenth of the rows,
Bitmap index), scored against the exact top-10 of those rows. Each product row names the path taken
and the memory the cache holds. "paired" lines time numpy, numpy returning the same result rows (dict
copies of the rows' metadata plus the score, up to 100,000 rows) and the product in blocks of 25
queries taken in rotating order, so machine noise hits all three alike: their ratios are the
steadiest figures here. "throughput" lines count searches per second through one library with one
and with two threads searching at once (does a second concurrent search get the second core?).
Needs faiss-cpu (benchmarks/requirements.txt). Prints a table per size, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

K = 10
LOCAL_DIM = 16


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,10000,100000,1000000", help="comma list of row counts")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--queries", type=int, default=200, help="queries per kind for fast methods (default 200)")
    p.add_argument("--slow-queries", type=int, default=20,
                   help="queries per kind for brute-force methods from 100k rows on (default 20)")
    p.add_argument("--index-types", default="IVF_SQ,IVF_PQ",
                   help="comma list of IVF_SQ, IVF_PQ, IVF_RQ, IVF_HNSW_SQ (default IVF_SQ,IVF_PQ)")
    p.add_argument("--sweep", action="store_true", help="also try other nprobes/refine settings")
    p.add_argument("--float16", action="store_true", help="also measure a float16 copy of the vectors")
    p.add_argument("--no-faiss", action="store_true")
    p.add_argument("--no-baselines", action="store_true", help="only the LanceDB indexes (tuning runs)")
    p.add_argument("--no-product", action="store_true", help="skip the ImageLibrary.search rows")
    p.add_argument("--cache-mb", type=float, default=None, help="vector cache budget for the product rows "
                   "(default: ImageLibrary's default)")
    p.add_argument("--workdir", help="where to write tables (default: a temp dir, removed after)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def normalise(x):
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class Clusters:
    """Clustered data: centre + local subspace + noise, and queries of both kinds."""

    def __init__(self, n, dim, seed):
        self.rng = np.random.default_rng(seed)
        self.dim = dim
        self.k = max(20, n // 1000)
        self.centres = normalise(self.rng.standard_normal((self.k, dim)))
        self.bases = (self.rng.standard_normal((self.k, LOCAL_DIM, dim)) / np.sqrt(dim)).astype(np.float32)
        self.gap = normalise(self.rng.standard_normal((1, dim)))[0] * 2.5

    def points(self, labels):
        out = np.empty((len(labels), self.dim), dtype=np.float32)
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        bounds = np.searchsorted(sorted_labels, np.arange(self.k + 1))
        for c in range(self.k):
            rows = order[bounds[c]:bounds[c + 1]]
            if len(rows) == 0:
                continue
            z = self.rng.standard_normal((len(rows), LOCAL_DIM)).astype(np.float32) / np.sqrt(LOCAL_DIM)
            e = self.rng.standard_normal((len(rows), self.dim)).astype(np.float32) / np.sqrt(self.dim)
            out[rows] = self.centres[c] + 0.8 * (z @ self.bases[c]) + 0.3 * e
        return normalise(out)

    def rows(self, n):
        return self.points(self.rng.integers(0, self.k, size=n))

    def image_queries(self, n):
        return self.points(self.rng.integers(0, self.k, size=n))

    def text_queries(self, n):
        labels = self.rng.integers(0, self.k, size=n)
        z = self.rng.standard_normal((n, LOCAL_DIM)).astype(np.float32) / np.sqrt(LOCAL_DIM)
        local = np.einsum("nl,nld->nd", z, self.bases[labels])
        e = self.rng.standard_normal((n, self.dim)).astype(np.float32) / np.sqrt(self.dim)
        return normalise(self.centres[labels] + 0.4 * local + self.gap + 0.5 * e)


def exact_topk(data, queries, k=K, chunk=200_000):
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(data), chunk):
        s = queries @ data[start:start + chunk].T
        idx = np.argpartition(-s, k - 1, axis=1)[:, :k] if s.shape[1] > k else np.tile(np.arange(s.shape[1]), (len(queries), 1))
        cand_s = np.concatenate([best_s, np.take_along_axis(s, idx, 1)], axis=1)
        cand_i = np.concatenate([best_i, idx + start], axis=1)
        top = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_i, top, 1)
    return best_i, best_s


def recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def timed(fn, queries):
    results, times = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t) * 1000)
    return results, np.array(times)


def dir_bytes(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def write_lance(db_dir, name, data, dtype=np.float32):
    import lancedb
    import pyarrow as pa

    value_type = pa.float16() if dtype == np.float16 else pa.float32()
    schema = pa.schema([pa.field("row", pa.int64()), pa.field("vector", pa.list_(value_type, data.shape[1]))])

    def batches(step=100_000):
        for start in range(0, len(data), step):
            block = data[start:start + step].astype(dtype)
            flat = pa.array(block.reshape(-1), type=value_type)
            yield pa.record_batch([pa.array(np.arange(start, start + len(block))),
                                   pa.FixedSizeListArray.from_arrays(flat, data.shape[1])], schema=schema)

    db = lancedb.connect(db_dir)
    return db.create_table(name, data=batches(), schema=schema, mode="overwrite")


def lance_search(table, nprobes=None, refine=None, exact=False):
    def search(q):
        b = table.search(q).distance_type("cosine").limit(K).select(["row", "_distance"])
        if exact:
            b = b.bypass_vector_index()
        else:
            if nprobes:
                b = b.nprobes(nprobes)
            if refine:
                b = b.refine_factor(refine)
        return b.to_arrow()["row"].to_numpy()
    return search


def measure(name, fn, kinds, truth, results, extra=None):
    row = {"method": name}
    for kind, queries in kinds.items():
        found, ms = timed(fn, queries)
        row[f"{kind}_recall"] = round(recall(found, truth[kind][:len(queries)]), 4)
        row[f"{kind}_p50_ms"] = round(float(np.percentile(ms, 50)), 3)
        row[f"{kind}_p95_ms"] = round(float(np.percentile(ms, 95)), 3)
    row.update(extra or {})
    results.append(row)
    print(f"  {name:<40} " + "  ".join(
        f"{kind}: p50 {row[f'{kind}_p50_ms']:8.2f} ms p95 {row[f'{kind}_p95_ms']:8.2f} ms r@10 {row[f'{kind}_recall']:.3f}"
        for kind in kinds) + (f"  {extra}" if extra else ""), flush=True)
    return row


def _numpy_top(data, q):
    """numpy brute force: the top K row numbers, best first, and every row's score."""
    s = data @ q
    idx = np.argpartition(-s, K)[:K]
    return idx[np.argsort(-s[idx])], s


def brute_force(data):
    return lambda q: _numpy_top(data, q)[0]


def with_rows(data, records):
    """A one-file demo that returns rows: numpy's top k, each as a copy of its metadata plus the score."""
    def rows(q):
        idx, s = _numpy_top(data, q)
        return [dict(records[i], score=float(s[i])) for i in idx.tolist()]
    return rows


def measure_paired(n, data, queries, library, paired, block=25, warm=3, idle_s=0.3):
    """p50 ms of numpy, numpy + rows and the product, in blocks of `block` queries taken in rotating
    order, so a slow minute on this shared machine hits all three alike. Before each block the
    process idles `idle_s`, then makes `warm` untimed calls: right after numpy's OpenBLAS threads ran,
    they spin for ~0.1 s and torch's products run ~3x slower on 2 cores (measured at 100,000 rows:
    ~8 ms instead of ~2.5 for the first 12-15 product queries); alternating every query, or blocks
    without the pause, measured that handoff instead of the search."""
    fns = {"numpy": brute_force(data), "product": lambda q: library.search(q, k=K)}
    if n <= 100_000:  # a million result dicts would not fit this machine's memory comfortably
        from store.library import METADATA_COLUMNS

        columns = [c for c in METADATA_COLUMNS if c in library.columns]
        records = library.query(select=columns, limit=None).to_pylist()
        records.sort(key=lambda r: int(r["id"], 16))  # row i of `data` has id i
        fns["numpy + rows"] = with_rows(data, records)
    names = list(fns)
    for kind, qs in queries.items():
        times = {name: [] for name in names}
        for b, start in enumerate(range(0, len(qs), block)):
            for name in names[b % len(names):] + names[:b % len(names)]:
                time.sleep(idle_s)
                for q in qs[start:start + warm]:
                    fns[name](q)
                times[name].extend(timed(fns[name], qs[start:start + block])[1])
        p50 = {name: round(float(np.median(v)), 4) for name, v in times.items()}
        paired[kind] = {**p50, "product / numpy": round(p50["product"] / p50["numpy"], 2)}
        if "numpy + rows" in p50:
            paired[kind]["product / (numpy + rows)"] = round(p50["product"] / p50["numpy + rows"], 2)
        print(f"  paired, {kind} queries: " + ", ".join(f"{k} {v}" for k, v in paired[kind].items()), flush=True)


def measure_throughput(library, queries, per_thread=300, rounds=2, idle_s=0.3) -> dict:
    """Searches per second through one library, with one and with two threads calling `search` back
    to back (image queries): whether concurrent searches (an API's) use more than one core."""
    import threading

    qs = queries["image"]

    def rate(threads):
        def work(offset):
            for i in range(per_thread):
                library.search(qs[(offset + i) % len(qs)], k=K)
        workers = [threading.Thread(target=work, args=(37 * t,)) for t in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return round(threads * per_thread / (time.perf_counter() - started))

    figures = {"1 thread": [], "2 threads": []}
    for _ in range(rounds):  # alternated, so a slow minute hits both
        for threads, name in ((1, "1 thread"), (2, "2 threads")):
            time.sleep(idle_s)
            figures[name].append(rate(threads))
    print("  throughput, searches/s: " + ", ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    return figures


def measure_product(n, data, queries, truth, args, workdir, results, paired, throughput):
    """ImageLibrary.search as the product runs it: full rows back, path chosen by the library."""
    from synthetic_library import TEN_PERCENT, write_library

    db_dir = os.path.join(workdir, f"product{n}")
    t = time.perf_counter()
    options = {} if args.cache_mb is None else {"vector_cache_mb": args.cache_mb}
    library = write_library(db_dir, data, **options)
    print(f"  wrote + optimized the product table in {time.perf_counter() - t:.1f} s", flush=True)
    selected = np.flatnonzero(np.arange(n) % 10 == 0)  # the rows `format = 'F0'` selects
    filtered_truth = {kind: selected[exact_topk(data[selected], q)[0]] for kind, q in queries.items()}

    def numbers(hits):
        return np.array([int(h["id"], 16) for h in hits])

    for label, where, wanted in (("", None, truth), (" 10% filter", TEN_PERCENT, filtered_truth)):
        timings = []
        for _ in range(2):  # the first search goes to LanceDB; the second loads the cache if it will be used
            t = time.perf_counter()
            library.search(queries["image"][0], k=K, where=where)
            timings.append(round((time.perf_counter() - t) * 1000, 1))
        if library.vector_cache.current() is not None:  # measure the warm cache: int8 codes built
            library.vector_cache.current().wait_for_scan()
            library.search(queries["image"][0], k=K, where=where)
        path = library.last_search_path
        cache = library.vector_cache.state()
        measure(f"product search{label} ({path})", lambda q: numbers(library.search(q, k=K, where=where)),
                queries, wanted, results, {"path": path, "first_two_searches_ms": timings,
                                           "cache_bytes": cache["bytes"], "cache_state": cache["state"],
                                           "scan": cache["scan"]})
        if not where:
            measure_paired(n, data, queries, library, paired)
            throughput.update(measure_throughput(library, queries))
        row = {"method": f"product search_many{label}, {len(queries['image'])} queries per call"}
        library.search_many(queries["image"], k=K, where=where)  # a batch may load the cache: not timed
        for kind, q in queries.items():
            t = time.perf_counter()
            found = [numbers(hits) for hits in library.search_many(q, k=K, where=where)]
            per_query = (time.perf_counter() - t) * 1000 / len(q)
            row.update({f"{kind}_recall": round(recall(found, wanted[kind]), 4),
                        f"{kind}_p50_ms": round(per_query, 3), f"{kind}_p95_ms": round(per_query, 3)})
        row.update({"path": library.last_search_path, "cache_bytes": library.vector_cache.state()["bytes"]})
        results.append(row)
        print(f"  {row['method']:<40} per query: image {row['image_p50_ms']:.3f} ms r@10 {row['image_recall']:.3f}"
              f"  text {row['text_p50_ms']:.3f} ms r@10 {row['text_recall']:.3f}  ({row['path']})", flush=True)
    shutil.rmtree(db_dir, ignore_errors=True)


def run_size(n, args, workdir):
    from store.indexes import plan_vector_index

    print(f"\n== {n:,} rows x {args.dim} dims ==", flush=True)
    t = time.perf_counter()
    gen = Clusters(n, args.dim, args.seed)
    data = gen.rows(n)
    queries = {"image": gen.image_queries(args.queries), "text": gen.text_queries(args.queries)}
    truth = {kind: exact_topk(data, q)[0] for kind, q in queries.items()}
    top1 = {kind: float(np.mean(exact_topk(data, q, 1)[1])) for kind, q in queries.items()}
    print(f"  generated + ground truth in {time.perf_counter() - t:.1f} s; mean top-1 cosine "
          f"image {top1['image']:.3f}, text {top1['text']:.3f}", flush=True)
    slow_n = args.queries if n < 100_000 else min(args.queries, args.slow_queries)
    slow = {kind: q[:slow_n] for kind, q in queries.items()}
    results, paired, throughput = [], {}, {}
    if not args.no_baselines:
        measure("numpy brute force", brute_force(data), slow, truth, results, {"bytes_per_vector": args.dim * 4})

    if not args.no_faiss and not args.no_baselines:
        import faiss

        flat = faiss.IndexFlatIP(args.dim)
        flat.add(data)
        measure("faiss IndexFlatIP", lambda q: flat.search(q[None], K)[1][0], slow, truth, results,
                {"bytes_per_vector": args.dim * 4})
        del flat
        nlist = plan_vector_index(n, args.dim).num_partitions
        t = time.perf_counter()
        quantizer = faiss.IndexFlatIP(args.dim)
        ivf = faiss.IndexIVFFlat(quantizer, args.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(data[np.random.default_rng(1).choice(n, min(n, nlist * 64), replace=False)])
        ivf.add(data)
        build = time.perf_counter() - t
        for nprobe in sorted({max(1, nlist // 25), max(1, nlist // 10)}):
            ivf.nprobe = nprobe
            measure(f"faiss IVFFlat nlist={nlist} nprobe={nprobe}", lambda q: ivf.search(q[None], K)[1][0],
                    queries, truth, results, {"build_s": round(build, 1), "bytes_per_vector": args.dim * 4 + 8})
        del ivf, quantizer

    if not args.no_product:
        measure_product(n, data, queries, truth, args, workdir, results, paired, throughput)

    db_dir = os.path.join(workdir, f"db{n}")
    t = time.perf_counter()
    table = write_lance(db_dir, "bench", data)
    print(f"  wrote lance table in {time.perf_counter() - t:.1f} s", flush=True)
    if not args.no_baselines:
        measure("lancedb exact (flat scan)", lance_search(table, exact=True), slow, truth, results,
                {"bytes_per_vector": args.dim * 4})
    for index_type in [s.strip().upper() for s in args.index_types.split(",") if s.strip()]:
        plan = plan_vector_index(n, args.dim, index_type)
        before = dir_bytes(Path(db_dir) / "bench.lance" / "_indices")  # dropped indexes leave files
        t = time.perf_counter()
        table.create_index("vector", replace=True, config=plan.config())
        build = time.perf_counter() - t
        index_bytes = dir_bytes(Path(db_dir) / "bench.lance" / "_indices") - before
        extra = {"build_s": round(build, 1), "index_bytes_per_vector": round(index_bytes / n, 1),
                 "partitions": plan.num_partitions}
        measure(f"lancedb {index_type} nprobes={plan.nprobes} refine={plan.refine_factor}",
                lance_search(table, plan.nprobes, plan.refine_factor), queries, truth, results, extra)
        if args.sweep:
            probes = sorted({max(1, plan.num_partitions // 64), plan.nprobes, max(1, plan.num_partitions // 16)})
            for nprobes in probes:
                for refine in (5, 10, 20, 40):
                    if (nprobes, refine) != (plan.nprobes, plan.refine_factor):
                        measure(f"lancedb {index_type} nprobes={nprobes} refine={refine}",
                                lance_search(table, nprobes, refine), queries, truth, results, extra)
        table.drop_index(table.list_indices()[0].name) if table.list_indices() else None

    if args.float16:
        t16 = write_lance(db_dir, "bench16", data, np.float16)
        size16 = dir_bytes(Path(db_dir) / "bench16.lance") / n
        measure("lancedb exact float16 column", lance_search(t16, exact=True), slow, truth, results,
                {"bytes_per_vector": round(size16, 1)})
        plan = plan_vector_index(n, args.dim)
        t16.create_index("vector", replace=True, config=plan.config())
        measure(f"lancedb float16 {plan.index_type} nprobes={plan.nprobes} refine={plan.refine_factor}",
                lance_search(t16, plan.nprobes, plan.refine_factor), queries, truth, results,
                {"bytes_per_vector": round(size16, 1)})
    shutil.rmtree(db_dir, ignore_errors=True)
    return {"rows": n, "dim": args.dim, "top1_cosine": top1, "results": results, "paired": paired,
            "throughput": throughput}


def main(argv=None):
    args = _parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="search-bench-")
    os.makedirs(workdir, exist_ok=True)
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} cpus={os.cpu_count()}", flush=True)
    report = []
    try:
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            report.append(run_size(n, args, workdir))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(report))
    print(json.dumps({"benchmark": "search", "sizes": report}))


def markdown(report) -> str:
    """The measured table as Markdown, for docs/scaling.md."""
    lines = []
    for size in report:
        lines += ["", f"**{size['rows']:,} rows x {size['dim']}** (mean top-1 cosine: image "
                  f"{size['top1_cosine']['image']:.2f}, text {size['top1_cosine']['text']:.2f})", "",
                  "| method | image p50 / p95 ms | image r@10 | text p50 / p95 ms | text r@10 | build s | bytes/vector | cache MB |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in size["results"]:
            size_b = r.get("index_bytes_per_vector", r.get("bytes_per_vector", ""))
            lines.append(f"| {r['method']} | {r['image_p50_ms']:.2f} / {r['image_p95_ms']:.2f} | {r['image_recall']:.3f} "
                         f"| {r['text_p50_ms']:.2f} / {r['text_p95_ms']:.2f} | {r['text_recall']:.3f} "
                         f"| {r.get('build_s', '')} | {size_b} | {_mb(r.get('cache_bytes'))} |")
        for kind, figures in size.get("paired", {}).items():
            lines.append(f"\nPaired p50 ms, {kind} queries: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
        if size.get("throughput"):
            lines.append("\nThroughput, searches/s: " + ", ".join(f"{k} {v}" for k, v in size["throughput"].items()))
    return "\n".join(lines)


def _mb(value):
    return "" if value is None else f"{value / 2**20:.1f}"


if __name__ == "__main__":
    main()
