"""Exact cosine top-k candidates over the vector cache: one matrix product per block of queries.

`FloatScan` scores every row in float32. `Int8Scan` keeps the rows also as int8 codes (a quarter of
the bytes to stream) and scores them with NumKong's packed int8 product (exact int32 dot products;
AVX-512 VNNI, AVX2 or NEON chosen by NumKong from what the CPU reports), then re-scores in float32
every row that can still be in the top k, so its results equal FloatScan's (same rows, float32
scores). Measured on the 2-core AVX-512 VM (one query, 512-d): 9 us over 1,000 rows against 18-25 for
a float32 product, and 2.4 ms single-threaded over 100,000 (1.3 ms on two threads, against 1.5 for
fbgemm's int8 product, which this replaced).

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


def int8_available() -> bool:
    """Whether the int8 scan is worth planning for: NumKong is installed and its product has not
    failed here. Cheap (no import: `stats` and path predictions call it)."""
    return _int8_broken is None and _numkong_installed()


@functools.lru_cache(maxsize=1)
def _numkong_installed() -> bool:
    return importlib.util.find_spec("numkong") is not None


def build_int8(vectors: np.ndarray) -> "Int8Scan | None":
    """Int8Scan over `vectors`, or None (logged once per process) where NumKong cannot run it."""
    global _int8_broken
    if not int8_available():
        return None
    try:
        return Int8Scan(vectors)
    except (RuntimeError, TypeError, ValueError, ImportError) as error:
        _int8_broken = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning("int8 search scan unavailable (%s): the vector cache scans in float32", _int8_broken)
        return None


def scan_threads() -> int:
    """Cores this process may use (its CPU affinity, capped by OMP_NUM_THREADS where that is set)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() and int(limit) > 0 else max(1, cores)


@functools.lru_cache(maxsize=1)
def _pool(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="int8-scan")


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

    def exact_rows(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Scores of a few rows (the re-scored candidates): einsum runs in this thread, no BLAS pool."""
        return np.einsum("ij,j->i", self.vectors[rows], query)

    def candidates(self, queries: np.ndarray, want: int, keep: np.ndarray | None):
        """Per query: (indices into the kept rows or None for all, their float32 scores)."""
        for scores in self.exact(queries):
            yield None, scores if keep is None else scores[keep]


class Int8Scan(FloatScan):
    kind = "int8+float32"

    def __init__(self, vectors: np.ndarray, threads: int | None = None):
        import numkong

        super().__init__(vectors)
        self._numkong = numkong
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

    def approximate(self, queries: np.ndarray) -> tuple[np.ndarray, list[float], list[float]]:
        """For unit `queries`: the (b, rows) int32 code products, and per query the score one unit of
        them stands for and the bound on their scores' error, in those units. Few numpy calls: after
        the scan has streamed the codes through the caches each costs ~2-5 us (measured at 10,000 rows)."""
        # The query side first, while the caches are warm: the product streams every code through them.
        steps = np.abs(queries).max(axis=1, keepdims=True) / _LEVELS  # > 0: unit queries
        codes = np.rint(queries / steps)
        residual = queries - codes * steps
        units, bounds = [], []
        for step, square in zip(steps[:, 0].tolist(), np.einsum("ij,ij->i", residual, residual).tolist()):
            d = math.sqrt(square)
            unit = step * self.step
            units.append(unit)
            # |q^| <= |q| + |d| = 1 + |d| for a unit query (triangle inequality)
            bounds.append(((1 + d) * self.row_error + d + _SLACK) / unit)
        return self._products(codes.astype(np.int8)), units, bounds

    def _products(self, codes: np.ndarray) -> np.ndarray:
        dots = self._numkong.dots_packed
        if len(self._packed) == 1:
            return np.asarray(dots(codes, self._packed[0]))
        later = [_pool(len(self._packed) - 1).submit(dots, codes, packed) for packed in self._packed[1:]]
        first = np.asarray(dots(codes, self._packed[0]))
        return np.concatenate([first] + [np.asarray(f.result()) for f in later], axis=1)

    def candidates(self, queries: np.ndarray, want: int, keep: np.ndarray | None):
        products, _, bounds = self.approximate(queries)
        for query, approx, bound in zip(queries, products, bounds):
            if keep is not None:
                approx = approx[keep]
            if len(approx) <= want:
                yield None, self._exact_kept(query, np.arange(len(approx)), keep)
                continue
            # The want best approximate scores are each within `bound` of a real row's score, so the true
            # want-th best is >= edge - bound, and a row that reaches it has approx >= edge - 2 bound.
            edge = int(np.partition(approx, len(approx) - want)[len(approx) - want])
            possible = np.flatnonzero(approx >= math.floor(edge - 2 * bound))  # integers: floor keeps every one
            yield possible, self._exact_kept(query, possible, keep)

    def _exact_kept(self, query: np.ndarray, indices: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        return self.exact_rows(query, indices if keep is None else keep[indices])
