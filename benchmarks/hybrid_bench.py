"""Keyword and hybrid search: latency against semantic search, full-text index cost, and the relevance
cutoff's precision and recall on a labelled set.

    OMP_NUM_THREADS=2 python benchmarks/hybrid_bench.py                      # 10k and 100k rows
    OMP_NUM_THREADS=2 python benchmarks/hybrid_bench.py --sizes 10000 --queries 20 --skip-cutoff

Latency: real ImageLibrary tables of synthetic rows (random 512-d unit vectors; descriptions of 4-12
words and 0-3 tags drawn Zipf-like from a 3,000-word vocabulary; file names IMG_nnnnnn.jpg), indexed
as `optimize` leaves them (full-text indexes; IVF_SQ from 20,000 rows). Each query goes through
pipeline.searching.search (the CLI's and dashboard's path) with a ready query vector, so text encoding
is not timed; k = 10, one query at a time, the modes interleaved. "unindexed" repeats keyword search after adding 1% new rows
without refreshing the full-text index (LanceDB searches those rows flat).

Cutoff: a labelled set of CLIP-shaped vectors with known relevant sets (see `labelled_set`). It tests
the rule under a stated model of CLIP's score distribution, not CLIP itself: read the figures as "what
the rule does to scores shaped like this", and re-measure with real weights and real labels.
Prints tables, then one JSON line.
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

import numpy as np
import pyarrow as pa

DIM = 512
MODEL = "openai/clip-vit-base-patch32"


def vocabulary(rng, size=3000):
    letters = np.array(list("abcdefghijklmnoprstuvwy"))
    words = {"".join(rng.choice(letters, rng.integers(4, 9))) for _ in range(size * 2)}
    return sorted(words)[:size]


def synthetic_rows(n, start, rng, words):
    from store.schema import image_schema, rows_to_table

    weights = 1.0 / np.arange(1, len(words) + 1)
    weights /= weights.sum()
    rows = []
    for i in range(start, start + n):
        description = " ".join(rng.choice(words, rng.integers(4, 13), p=weights))
        tags = list(rng.choice(words[:200], rng.integers(0, 4), replace=False))
        rows.append({"id": f"{i:064x}", "uri": f"/photos/IMG_{i:06d}.jpg", "file_name": f"IMG_{i:06d}.jpg",
                     "description": description, "tags": tags, "width": 640, "height": 480, "format": "JPEG",
                     "file_size": 100_000 + i, "vector": rng.standard_normal(DIM).astype(np.float32)})
    return rows_to_table(rows, image_schema(DIM, MODEL))


def percentiles(ms):
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2)}


def latency(n, args, workdir, rng):
    from pipeline.searching import SearchRequest, search
    from store import ImageLibrary, optimize

    words = vocabulary(rng)
    library = ImageLibrary(os.path.join(workdir, f"db{n}"), "images")
    library.ensure(MODEL, DIM)
    started = time.perf_counter()
    for begin in range(0, n, 20_000):
        library.add(synthetic_rows(min(20_000, n - begin), begin, rng, words))
    written = time.perf_counter() - started
    from store.text_search import refresh_text_indexes

    started = time.perf_counter()
    refresh_text_indexes(library)
    fts_build = time.perf_counter() - started
    started = time.perf_counter()
    report = optimize(library)
    optimized = time.perf_counter() - started
    vectors = rng.standard_normal((args.queries, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = [" ".join(rng.choice(words[:1500], rng.integers(1, 4))) for _ in range(args.queries)]
    out = {"rows": n, "write_s": round(written, 1), "fts_build_s": round(fts_build, 2),
           "optimize_s": round(optimized, 1), "vector_index": report.vector_index}

    def timed(modes):
        """Per-mode latencies, the modes interleaved query by query (rotating which goes first), so a
        busy machine slows them alike."""
        ms = {mode: [] for mode in modes}
        for q, (vector, text) in enumerate(zip(vectors, texts)):
            for j in range(len(modes)):
                mode = modes[(q + j) % len(modes)]
                request = SearchRequest(vector=vector, text=text, mode=mode, k=10, cutoff=False)
                t = time.perf_counter()
                search(library, None, request)
                ms[mode].append((time.perf_counter() - t) * 1000)
        return {mode: percentiles(values) for mode, values in ms.items()}

    modes = ("semantic", "keyword", "hybrid")
    timed(modes)  # warm: the first queries load index files
    out.update(timed(modes))
    library.add(synthetic_rows(max(1, n // 100), n, rng, words))
    out["keyword_unindexed_1pct"] = timed(("keyword",))["keyword"]
    started = time.perf_counter()
    refresh_text_indexes(library)
    out["fts_refresh_1pct_s"] = round(time.perf_counter() - started, 2)
    print(f"  {n:>7,} rows: semantic p50 {out['semantic']['p50_ms']:.1f} / p95 {out['semantic']['p95_ms']:.1f} ms, "
          f"keyword {out['keyword']['p50_ms']:.1f} / {out['keyword']['p95_ms']:.1f}, "
          f"hybrid {out['hybrid']['p50_ms']:.1f} / {out['hybrid']['p95_ms']:.1f}, "
          f"keyword with 1% unindexed {out['keyword_unindexed_1pct']['p50_ms']:.1f} / "
          f"{out['keyword_unindexed_1pct']['p95_ms']:.1f}; full-text build {fts_build:.2f} s, "
          f"refresh after 1% {out['fts_refresh_1pct_s']:.2f} s, optimize {optimized:.1f} s "
          f"(vector index: {report.vector_index})", flush=True)
    return out


def labelled_set(rng, rows=10_000, concepts=200, group=5):
    """CLIP-shaped vectors with known relevance. Every vector shares a common direction (CLIP's
    embeddings all sit in a narrow cone, so unrelated text-image pairs still score ~0.17); concepts come
    in groups of `group` that share a direction (hard negatives: "a dog" vs "a wolf", ~0.22); an image
    shows its concept with a strength that varies per image (relevant pairs ~0.24-0.34, mean ~0.30).
    Concept sizes are Zipf-like (2 to ~400 images), so many queries have fewer relevant images than k
    and an uncut list fills its tail with unrelated ones: the case the cutoff is for."""
    basis = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0].astype(np.float32)
    common, rest = basis[0], basis[1:]
    groups = concepts // group
    group_dirs, concept_dirs = rest[:groups], rest[groups:groups + concepts]
    sizes = np.maximum(2, (rows * (1 / np.arange(1, concepts + 1)) / (1 / np.arange(1, concepts + 1)).sum())).astype(int)
    labels = rng.permutation(np.repeat(np.arange(concepts), sizes))[:rows]
    strength = rng.uniform(0.55, 1.15, len(labels)).astype(np.float32)
    noise = rng.standard_normal((len(labels), DIM)).astype(np.float32) / np.sqrt(DIM)
    images = (0.6 * common + 0.45 * group_dirs[labels // group]
              + 0.55 * strength[:, None] * concept_dirs[labels] + 0.35 * noise)
    queries = np.arange(concepts)
    text_noise = rng.standard_normal((concepts, DIM)).astype(np.float32) / np.sqrt(DIM)
    texts = 0.28 * common + 0.11 * group_dirs[queries // group] + 0.16 * concept_dirs + 0.93 * text_noise
    norm = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    return norm(images).astype(np.float32), labels, norm(texts).astype(np.float32), queries


def cutoff_quality(args, rng):
    from pipeline.relevance import CLIP_GAP, relevance_cutoff

    images, labels, texts, concepts = labelled_set(rng)
    scores = texts @ images.T
    relevant_scores = scores[labels[None, :] == concepts[:, None]]
    unrelated = scores[(labels[None, :] // 5) != (concepts[:, None] // 5)]
    print(f"  labelled set: {len(images):,} images, {len(texts)} queries; cosine of relevant pairs "
          f"{np.percentile(relevant_scores, 5):.3f}-{np.percentile(relevant_scores, 95):.3f} (5-95%), "
          f"unrelated {np.percentile(unrelated, 5):.3f}-{np.percentile(unrelated, 95):.3f}")
    gaps = [None] + sorted({0.04, 0.06, 0.08, 0.10, 0.12, CLIP_GAP})
    table = []
    for k in (20, 50):
        top = np.argsort(-scores, axis=1)[:, :k]
        for gap in gaps:
            precision, recall, kept = [], [], []
            for q, idx in enumerate(top):
                hits = [{"i": int(i), "score": float(scores[q, i])} for i in idx]
                if gap is not None:
                    floor = hits[0]["score"] - gap
                    hits = [h for h in hits if h["score"] >= floor]
                n_relevant = int((labels == concepts[q]).sum())
                good = sum(labels[h["i"]] == concepts[q] for h in hits)
                precision.append(good / max(len(hits), 1))
                recall.append(good / min(n_relevant, k))
                kept.append(len(hits))
            row = {"k": k, "gap": gap, "precision": round(float(np.mean(precision)), 3),
                   "recall": round(float(np.mean(recall)), 3), "mean_results": round(float(np.mean(kept)), 1)}
            table.append(row)
            print(f"  k={k:<3} {'no cutoff' if gap is None else f'gap {gap:.2f}':<10} precision {row['precision']:.3f}  "
                  f"recall {row['recall']:.3f}  results {row['mean_results']:.1f}")
    # The shipped rule itself (relevance_cutoff with the CLIP default), as a check on the loop above.
    q_hits = [{"score": float(s)} for s in np.sort(scores[0])[::-1][:20]]
    assert len(relevance_cutoff(q_hits, MODEL)[0]) == sum(h["score"] >= q_hits[0]["score"] - CLIP_GAP for h in q_hits)
    return table


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-cutoff", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    flags = [f for f in ("avx512_bf16", "avx512_vnni", "avx512f", "avx2", "amx_tile")
             if f in open("/proc/cpuinfo").read().split()] if os.path.exists("/proc/cpuinfo") else []
    print(f"cpus {os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, flags {' '.join(flags)}")
    result = {"cpu_flags": flags}
    if not args.skip_latency:
        print("latency (ms per query, k = 10, query vector given):")
        with tempfile.TemporaryDirectory() as workdir:
            result["latency"] = [latency(int(n), args, workdir, rng) for n in args.sizes.split(",")]
    if not args.skip_cutoff:
        print("relevance cutoff on the labelled set:")
        result["cutoff"] = cutoff_quality(args, np.random.default_rng(args.seed))  # same set with or without latency
    print(json.dumps(result))


if __name__ == "__main__":
    main()
