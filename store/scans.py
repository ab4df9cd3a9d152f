"""Exact cosine top-k candidates over the vector cache: one matrix product per block of queries.

`FloatScan` scores every row in float32. `Int8Scan` keeps the rows also as int8 codes (a quarter of
the bytes to stream) and scores them with NumKong's packed int8 product (exact int32 dot products;
AVX-512 VNNI, AVX2 or NEON chosen by NumKong from what the CPU reports), then re-scores in float32
every row that can still be in the top k, so its results equal FloatScan's (same rows, float32
scores); the steps around the product run compiled (store/int8_kernels.py, Numba). Measured on the
2-core AVX-512 VM (one query, 512-d): 9 us over 1,000 rows against 18-25 for a float32 product, and
2.4 ms single-threaded over 100,000 (1.3 ms on two threads, against 1.5 for fbgemm's int8 product,
which this replaced).

Why no row is missed: all rows share one code step s (the largest value over the rows / 127), the
query has its own step t, so the approximate score is s t (c_q . c_x), an integer times one constant.
With q^, x^ the dequantised query and row, d = q - q^ and e = x - x^, q.x - q^.x^ = q^.e + d.x, so
|q.x - q^.x^| <= |q^| |e| + |d| |x| (Cauchy-Schwarz; |x| = 1). |e| is measured when the codes are
built (its largest over the rows) and |d| per query, so the error bound b is exact arithmetic, not a
guess. With E the want-th best approximate score, the want rows at or above it score at least E - b,
so the true want-th best does too; a row that can reach it has an approximate score of at least
E - 2b, and exactly those rows are re-scored (one gather). The comparison runs on the integers.

The float32 scan runs in torch's thread pool: numpy's BLAS threads and torch's OpenMP threads fight
over the cores when a process alternates between them (a 1,000-row numpy product after a torch op
took 3 ms instead of 0.02 ms on 2 cores), and every search process also runs the text encoder in
torch. The int8 scan splits its rows over a few Python threads (NumKong releases the GIL), one part
per core from ROWS_PER_THREAD rows a part.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger(__name__)

INT8_MIN_ROWS = 1_000  # int8 measured faster from here (1,000 and 3,000 rows: 10-30 % per search); not tried below
ROWS_PER_THREAD = 50_000  # handing a part to a sleeping thread costs ~70-90 us here (a no-op round trip)
_LEVELS = 127  # codes -127..127 (NumKong's int8 product is signed by signed)
_BUILD_ROWS = 4_096
_SLACK = 1e-5  # float32 rounding of the re-scored sums, and of the bound's own arithmetic
SORT_WHOLE = 256  # up to this many scores, one sort beats a partition, a mask and a smaller sort


def _torch():
    import torch

    return torch


def uses_int8(rows: int) -> bool:
    """Whether a cache of this many rows scans int8 codes (the one rule; the codes come on first use)."""
    return rows >= INT8_MIN_ROWS and int8_available()


def int8_bytes(rows: int, dim: int) -> int:
    """What Int8Scan adds to the cache for a table of this size (0 where it is not used): the packed
    codes, each row padded by NumKong to whole 64-byte steps plus 72 bytes (measured on NumKong 7.8
    for 16-1,024 dims: 584 bytes a 512-d row); `extra_bytes` counts the real size once built."""
    return rows * (-(-dim // 64) * 64 + 72) if uses_int8(rows) else 0


_int8_broken: str | None = None  # why the int8 product failed in this process, once it has
_compiled_for: set = set()  # the kinds of vectors array (writeable or not) Int8Scan._compile has run on


def int8_available() -> bool:
    """Whether the int8 scan is worth planning for: NumKong and Numba are installed and the scan has
    not failed here. Cheap (no import: `stats` and path predictions call it)."""
    return _int8_broken is None and _int8_installed()


@functools.lru_cache(maxsize=1)
def _int8_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("numkong", "numba"))


def build_int8(vectors: np.ndarray) -> "Int8Scan | None":
    """Int8Scan over `vectors`, or None (logged once per process) where NumKong cannot run it."""
    global _int8_broken
    if not int8_available():
        return None
    try:
        return Int8Scan(vectors)
    except Exception as error:  # NumKong's or Numba's, whatever its kind: the float32 scan is exact too
        _int8_broken = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning("int8 search scan unavailable (%s): the vector cache scans in float32", _int8_broken)
        return None


def warm_up() -> None:
    """Load the int8 scan's compiled steps now (~1 s the first time in a process: Numba's start and
    its on-disk cache; ~10 s where that cache is empty). The first int8 build would otherwise do it
    in its background thread, holding the interpreter while a server answers its first searches."""
    build_int8(np.eye(2, 8, dtype=np.float32))  # the vectors' kind (float32, C order, writable) as a snapshot's


def scan_threads() -> int:
    """Cores this process may use (its CPU affinity, capped by OMP_NUM_THREADS where that is set)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() and int(limit) > 0 else max(1, cores)


@functools.lru_cache(maxsize=1)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="int8-scan")


def best_first(scores: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `want` best `scores` and of every score tied with the want-th, best first, ties
    by index; and those scores."""
    if len(scores) > max(want, SORT_WHOLE):  # cut to the want best first (ties at the edge kept)
        edge = np.partition(scores, len(scores) - want)[len(scores) - want]
        best = np.flatnonzero(scores >= edge)
        order = best[np.argsort(-scores[best], kind="stable")]
    else:
        order = np.argsort(-scores, kind="stable")
    return order, scores[order]


class FloatScan:
    kind = "float32"
    extra_bytes = 0

    def __init__(self, vectors: np.ndarray):
        self.vectors = vectors  # (rows, dim) float32, L2-normalised, C order; shared, not copied
        self._rows = _torch().from_numpy(vectors)

    def exact(self, queries: np.ndarray) -> np.ndarray:
        """(b, rows) float32 cosine scores."""
        if len(queries) == 1:  # a matrix-vector product: ~10 us less than a 1-row matrix product at 1,000 rows
            return _torch().mv(self._rows, _torch().from_numpy(queries[0])).numpy()[None]
        return (_torch().from_numpy(queries) @ self._rows.T).numpy()

    def candidates(self, queries: np.ndarray, want: int, keep: np.ndarray | None):
        """Per query: the indices into the kept rows (`keep`; None: every row) of the `want` best and of
        every row tied with the want-th, and their float32 scores, best first, ties by index."""
        for scores in self.exact(queries):
            yield best_first(scores if keep is None else scores[keep], want)


class Int8Scan(FloatScan):
    kind = "int8+float32"

    def __init__(self, vectors: np.ndarray, threads: int | None = None):
        import numkong

        from store import int8_kernels

        super().__init__(vectors)
        self._numkong, self._kernels = numkong, int8_kernels
        largest = max((float(np.abs(vectors[at:at + _BUILD_ROWS]).max()) for at in range(0, len(vectors), _BUILD_ROWS)),
                      default=0.0)  # in blocks, like the codes below
        self.step = largest / _LEVELS or 1.0
        threads = scan_threads() if threads is None else threads
        parts = max(1, min(threads, len(vectors) // ROWS_PER_THREAD))
        self.bounds = np.linspace(0, len(vectors), parts + 1).astype(int)
        self._packed, self.row_error = [], 0.0
        for start, stop in zip(self.bounds[:-1], self.bounds[1:]):
            codes = np.empty((stop - start, vectors.shape[1]), dtype=np.int8)
            for at in range(start, stop, _BUILD_ROWS):  # in blocks: the float temporaries stay in cache
                block = vectors[at:min(at + _BUILD_ROWS, stop)]
                rounded = np.rint(block * np.float32(1 / self.step))  # whole numbers within +-127
                codes[at - start:at - start + len(block)] = rounded
                error = block - rounded * np.float32(self.step)
                # |e| of the worst row: one bound for all rows costs one comparison a row in the search
                self.row_error = max(self.row_error, math.sqrt(float(np.einsum("ij,ij->i", error, error).max())))
            self._packed.append(numkong.dots_pack(codes))
        self.extra_bytes = int(sum(p.nbytes for p in self._packed))
        self._compile()

    def _compile(self) -> None:
        """Run every kernel once on this scan's own arrays, so Numba compiles (or loads from its cache)
        the variants searches use here, in the building thread rather than in a search. Once per
        process and kind of vectors array: the later builds (one per table version) skip the scans."""
        kind = self.vectors.flags.writeable  # the one property of the arrays that picks another variant
        if kind in _compiled_for:
            return
        query = np.array(self.vectors[:1])  # a fresh, writable array, as checked queries are
        for keep in (None, np.zeros(2, dtype=np.int64)):  # every row, and a selection of them
            list(self.candidates(query, 1, keep))
        _compiled_for.add(kind)

    def approximate(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For unit `queries`: the (b, rows) int32 code products, and per query the score one unit of
        them stands for and the bound on their scores' error, in those units."""
        # The query side first, while the caches are warm: the product streams every code through them.
        codes, units, bounds = self._kernels.quantise(queries, float(_LEVELS), self.step, self.row_error, _SLACK)
        return self._products(codes), units, bounds

    def _products(self, codes: np.ndarray) -> np.ndarray:
        dots = self._numkong.dots_packed
        if len(self._packed) == 1:
            return np.asarray(dots(codes, self._packed[0]))
        later = [_pool(len(self._packed) - 1).submit(dots, codes, packed) for packed in self._packed[1:]]
        first = np.asarray(dots(codes, self._packed[0]))
        return np.concatenate([first] + [np.asarray(f.result()) for f in later], axis=1)

    def candidates(self, queries: np.ndarray, want: int, keep: np.ndarray | None):
        """As FloatScan's, with more rows than the want best (those the bound cannot rule out), all
        re-scored in float32: the want best and their ties are the float32 scan's."""
        products, _, bounds = self.approximate(queries)
        best = self._kernels.best_rescored
        for query, approx, bound in zip(queries, products, bounds.tolist()):
            yield best(approx, keep, want, bound, self.vectors, query)
