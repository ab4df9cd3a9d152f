"""The int8 scan of the vector cache: its error bound holds, and its results are the float32 scan's
(same rows, same scores), through the library equal to LanceDB's exact search."""

import numpy as np
import pytest

import store.scans as scans
from store import ImageLibrary
from store.scans import FloatScan, Int8Scan

pytestmark = pytest.mark.skipif(scans.build_int8(np.eye(2, 8, dtype=np.float32)) is None,
                                reason="NumKong is not installed")

DIM = 64


def clustered(n, seed=0, clusters=12):
    """Rows in tight clusters (many near-equal scores: the hard case for a bound) plus exact copies."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM))
    v = centres[rng.integers(0, clusters, n)] + 0.05 * rng.normal(size=(n, DIM))
    copies = min(20, n // 2)
    v[n - copies:] = v[:copies]  # exact duplicates: equal scores, ordered by id
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def unit(v):
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def assert_best_first(found, scores):
    """Scores from best to worst, equal scores in row order."""
    assert np.all(scores[:-1] >= scores[1:])
    ties = scores[:-1] == scores[1:]
    assert np.all(found[:-1][ties] < found[1:][ties])


def test_the_error_bound_holds_for_every_row():
    data = clustered(3000)
    queries = unit(np.random.default_rng(1).normal(size=(40, DIM)))
    scan = Int8Scan(data)
    products, units, bounds = scan.approximate(queries)
    approx, bounds = products * np.array(units)[:, None], np.array(bounds) * units
    exact = queries @ data.T
    assert np.all(np.abs(approx - exact) <= bounds[:, None])
    assert np.abs(approx - exact).max() > 1e-4  # int8 really is approximate: the bound is doing work


@pytest.mark.parametrize("want, threads", [(1, 1), (10, 1), (57, 1), (10, 3)])
def test_int8_candidates_give_the_float32_top_k(want, threads, monkeypatch):
    monkeypatch.setattr(scans, "ROWS_PER_THREAD", 1000)  # threads=3: three parts, scanned side by side
    data = clustered(4000, seed=2)
    rng = np.random.default_rng(3)
    queries = np.concatenate([unit(data[rng.integers(0, 4000, 20)] + 0.01 * rng.normal(size=(20, DIM))),
                              unit(rng.normal(size=(10, DIM))), data[:3]])  # near rows, anywhere, duplicates
    keep = np.flatnonzero(np.arange(4000) % 3 != 0)  # a dense selection: scored whole, then picked
    for selection in (None, keep):
        rows = np.arange(4000) if selection is None else selection
        every = (queries @ data[rows].T).astype(np.float32)  # every kept row's score, numpy's float32 sums
        floats = list(FloatScan(data).candidates(queries, want, selection))
        scan = Int8Scan(data, threads=threads)
        assert len(scan.bounds) == threads + 1
        int8s = list(scan.candidates(queries, want, selection))
        for scores, (f_found, f_scores), (i_found, i_scores) in zip(every, floats, int8s):
            for found, best in ((f_found, f_scores), (i_found, i_scores)):
                assert_best_first(found, best)
                np.testing.assert_allclose(best, scores[found], atol=1e-6)  # each row's own float32 score
            edge = np.sort(scores)[-want]
            assert len(f_found) == np.sum(f_scores >= f_scores[want - 1]) >= want  # the want best and their ties
            assert len(i_found) < len(rows)  # int8 re-scored only the rows the bound could not rule out
            np.testing.assert_allclose(i_scores[:want], f_scores[:want], atol=1e-6)
            # Rank by rank the same row, except where two rows' scores differ only in float32
            # rounding (the scans sum in different orders): both chose rows scoring the want-th best.
            assert set(np.flatnonzero(scores > edge + 1e-6)) <= set(i_found[:want]) & set(f_found[:want])
            assert np.mean(i_found[:want] == f_found[:want]) > 0.9


def test_fewer_rows_than_wanted_returns_them_all():
    data = clustered(30, seed=4)
    for scan in (FloatScan(data), Int8Scan(data)):
        found, scores = next(scan.candidates(data[:1], 50, None))
        assert sorted(found) == list(range(30))
        assert_best_first(found, scores)
        np.testing.assert_allclose(scores, (data @ data[0])[found], atol=1e-6)


def test_the_library_on_the_int8_scan_equals_lancedb_exact_search(tmp_path, monkeypatch):
    monkeypatch.setattr(scans, "INT8_MIN_ROWS", 1000)
    data = clustered(2500, seed=5)
    path = str(tmp_path / "db")
    lib = ImageLibrary(path, "images")
    lib.ensure("test/tiny-model", DIM)
    lib.add([{"id": f"{i:064x}", "uri": f"/p/{i}.jpg", "format": "PNG" if i % 4 == 0 else "JPEG",
              "vector": data[i]} for i in range(len(data))])
    queries = np.concatenate([data[[7, 1250, 2400]], unit(np.random.default_rng(6).normal(size=(3, DIM)))])
    lib.search(queries[0], k=1)  # the first search goes to LanceDB; the next loads the cache
    lib.search(queries[0], k=1)
    snapshot = lib.vector_cache.current()
    assert snapshot.wait_for_scan().kind == "int8+float32"
    reference = ImageLibrary(path, "images", vector_cache_mb=0)
    for where in (None, "format = 'JPEG'"):  # 75 % of rows: scanned whole in int8, then picked
        got = lib.search_many(queries, k=12, where=where)
        assert lib.last_search_path == "cache"
        for mine, theirs in zip(got, reference.search_many(queries, k=12, where=where)):
            assert [r["id"] for r in mine] == [r["id"] for r in theirs]
            np.testing.assert_allclose([r["score"] for r in mine], [r["score"] for r in theirs], atol=1e-5)
    assert lib.stats()["vector_cache"]["scan"] == "int8+float32"


def test_a_failing_int8_scan_leaves_the_exact_float32_scan(monkeypatch, caplog):
    import logging

    monkeypatch.setattr(scans, "_int8_broken", None)  # put back after the test: the others keep int8

    def broken(self):
        raise RuntimeError("no LLVM target for this CPU\nthe rest of a long message")

    monkeypatch.setattr(Int8Scan, "_compile", broken)
    with caplog.at_level(logging.WARNING, logger="store.scans"):
        assert scans.build_int8(clustered(1500, seed=7)) is None
    assert "int8 search scan unavailable (no LLVM target for this CPU): the vector cache scans in float32" in caplog.text
    assert not scans.int8_available() and not scans.uses_int8(1_000_000)
    assert scans.int8_bytes(1_000_000, DIM) == 0  # the budget no longer counts codes that will not be built


WARM_UP_THEN_SEARCH = """
import sys
import numpy as np
from store import ImageLibrary, int8_kernels, scans

scans.INT8_MIN_ROWS = 1000
kernels = (int8_kernels.quantise, int8_kernels.best_rescored)
assert not any(kernel.signatures for kernel in kernels), "a fresh process: nothing loaded yet"
scans.warm_up()
compiled = [len(kernel.signatures) for kernel in kernels]
assert all(compiled), "warm_up loaded every kernel"
data = np.random.default_rng(8).normal(size=(1200, 64)).astype(np.float32)
lib = ImageLibrary(sys.argv[1], "images")
lib.ensure("test/tiny-model", 64)
lib.add([{"id": f"{i:064x}", "uri": f"/p/{i}.jpg", "format": "PNG" if i % 4 == 0 else "JPEG",
          "vector": data[i]} for i in range(len(data))])
lib.search(data[0], k=3)  # LanceDB; the next search loads the cache and starts the int8 build
lib.search(data[0], k=3)
assert lib.vector_cache.current().wait_for_scan().kind == "int8+float32"
for where in (None, "format = 'JPEG'"):  # every row, and a dense selection (int8, then picked)
    lib.search_many(data[:2], k=3, where=where)
    lib.search(data[5], k=2000, where=where)  # more wanted than rows: every row re-scored
    assert lib.last_search_path == "cache"
more = [list(kernel.signatures) for kernel in kernels]
print("compiled nothing more" if [len(s) for s in more] == compiled else f"compiled more: {more}")
"""


def test_warm_up_compiles_every_kernel_variant_a_search_runs(tmp_path):
    """After `scans.warm_up` (the API's and dashboard's start), a library's own snapshot, its int8
    build and searches with and without a filter compile nothing more: no search waits for Numba.
    In a fresh interpreter, so that no earlier test has compiled them already."""
    import subprocess
    import sys
    from pathlib import Path

    done = subprocess.run([sys.executable, "-c", WARM_UP_THEN_SEARCH, str(tmp_path / "db")],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "compiled nothing more", done.stdout
