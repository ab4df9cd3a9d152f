"""Near-duplicate detection before and after the vector cache, on one synthetic library.

    OMP_NUM_THREADS=2 python benchmarks/duplicates_bench.py --rows 100000

Data: the clustered 512-d vectors of search_bench.py, with 1 % of the rows given one to three near
copies (cosine ~0.99), written as a real image table and optimized as `index` leaves it (the IVF
index from 20,000 rows on). "before": the vector cache off, so `duplicates` goes through the index
as it did before the cache (one batched ANN query per block of rows, `neighbours` per row);
"after": the default, blocked exact products over the cached vectors. Prints both times, whether
the groups are identical, and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from search_bench import Clusters, normalise
from synthetic_library import write_library


def planted_vectors(n: int, dim: int, seed: int):
    gen = Clusters(n, dim, seed)
    rng = np.random.default_rng(seed + 1)
    originals = max(1, n // 100)
    copies = rng.integers(1, 4, size=originals)
    base = gen.rows(n - int(copies.sum()))
    sources = rng.choice(len(base), size=originals, replace=False)
    near = [normalise(base[s] + 0.1 * rng.standard_normal((c, dim)).astype(np.float32) / np.sqrt(dim))
            for s, c in zip(sources, copies)]
    groups = []
    position = len(base)
    for s, c in zip(sources, copies):
        groups.append(frozenset([int(s)] + list(range(position, position + int(c)))))
        position += int(c)
    return np.concatenate([base] + near), groups


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--threshold", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-before", action="store_true", help="only the cached run")
    args = p.parse_args(argv)
    from pipeline.duplicates import find_duplicate_groups
    from store import ImageLibrary

    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} cpus={os.cpu_count()}", flush=True)
    vectors, planted = planted_vectors(args.rows, args.dim, args.seed)
    with tempfile.TemporaryDirectory(prefix="dup-bench-") as workdir:
        t = time.perf_counter()
        library = write_library(os.path.join(workdir, "db"), vectors)
        print(f"wrote and optimized {len(vectors):,} rows in {time.perf_counter() - t:.1f} s; "
              f"index: {library.search_plan()}", flush=True)
        expected = {frozenset(f"{i:064x}" for i in g) for g in planted}
        report = {"benchmark": "duplicates", "rows": len(vectors), "dim": args.dim, "planted_groups": len(expected)}
        runs = {}
        for name, options in (("before", {"vector_cache_mb": 0}), ("after", {})):
            if name == "before" and args.skip_before:
                continue
            fresh = ImageLibrary(library.db_uri, "images", **options)
            t = time.perf_counter()
            groups = {frozenset(g.ids) for g in find_duplicate_groups(fresh, threshold=args.threshold, with_rows=False)}
            seconds = time.perf_counter() - t
            runs[name] = groups
            report[f"{name}_s"] = round(seconds, 1)
            report[f"{name}_groups"] = len(groups)
            report[f"{name}_finds_planted"] = groups == expected
            print(f"{name}: {seconds:.1f} s, {len(groups)} groups, planted groups exactly: {groups == expected}", flush=True)
        if len(runs) == 2:
            report["identical_groups"] = runs["before"] == runs["after"]
            print(f"identical groups: {report['identical_groups']}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
