"""Exact cosine top-k candidates over the vector cache: one matrix product per block of queries.

`FloatScan` scores every row in float32. `Int8Scan` keeps the rows also as int8 codes (a quarter of
the bytes to stream) and scores them with fbgemm's int8 product, then re-scores in float32 every row
that can still be in the top k, so its results equal FloatScan's (same rows, float32 scores) at
about a third of the time from ~5,000 rows (benchmarks/search_bench.py).

Why no row is missed: with q^, x^ the dequantised query and row, d = q - q^ and e = x - x^,
q.x - q^.x^ = q^.e + d.x, so |q.x - q^.x^| <= |q^| |e| + |d| |x| (Cauchy-Schwarz; |x| = 1). |e| is
measured when the codes are built (its largest over the rows) and |d| per query, so the error bound b
is exact arithmetic, not a guess. With E the want-th best approximate score, the want rows at or above
it score at least E - b, so the true want-th best does too; a row that can reach it has an approximate
score of at least E - 2b, and exactly those rows are re-scored (one gather).

Both scans run in torch's thread pool: numpy's BLAS threads and torch's OpenMP threads fight over the
cores when a process alternates between them (a 1,000-row numpy product after a torch op took 3 ms
instead of 0.02 ms on 2 cores), and every search process also runs the text encoder in torch.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

INT8_MIN_ROWS = 5_000  # below this the float32 product over rows in cache is as fast
_QUERY_LEVELS = 63  # 7-bit queries (codes 1..127 around 64): fbgemm's AVX2 kernel cannot saturate
_QUERY_ZERO = 64
_SLACK = 1e-5  # float32 rounding of the two products' sums


def _torch():
    import torch

    return torch


def uses_int8(rows: int) -> bool:
    """Whether a cache of this many rows scans int8 codes (the one rule; the codes come on first use)."""
    return rows >= INT8_MIN_ROWS and int8_available()


def int8_bytes(rows: int, dim: int) -> int:
    """What Int8Scan adds to the cache for a table of this size (0 where it is not used)."""
    return rows * (dim + 4) if uses_int8(rows) else 0


_int8_broken: str | None = None  # why the int8 product failed in this process, once it has


def int8_available() -> bool:
    """Whether the int8 scan is worth planning for: torch is installed and its int8 product has not
    failed here. Cheap (no torch import: `stats` and path predictions call it); the product itself
    is tried when the first codes are built (x86 builds have fbgemm; not every ARM build does)."""
    return _int8_broken is None and _torch_installed()


@functools.lru_cache(maxsize=1)
def _torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def build_int8(vectors: np.ndarray) -> "Int8Scan | None":
    """Int8Scan over `vectors`, or None (logged once per process) where this torch cannot run it."""
    global _int8_broken
    if not int8_available():
        return None
    try:
        return Int8Scan(vectors)
    except (RuntimeError, AttributeError, NotImplementedError) as error:  # no fbgemm engine, or removed ops
        _int8_broken = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning("int8 search scan unavailable (%s): the vector cache scans in float32", _int8_broken)
        return None


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

    def __init__(self, vectors: np.ndarray):
        super().__init__(vectors)
        torch = _torch()
        scales = self._rows.abs().amax(dim=1).clamp_min(1e-12).double() / 127
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codes = torch.quantize_per_channel(self._rows, scales, torch.zeros(len(vectors), dtype=torch.long),
                                               0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(codes, None)
        # |e| of the worst row: one bound for all rows costs one comparison per row in the search
        # (rows differ little: their largest value sets their step), a per-row bound two more passes.
        self.row_error = float(torch.linalg.vector_norm(self._rows - codes.dequantize(), dim=1).max())
        self.extra_bytes = int(vectors.shape[0] * (vectors.shape[1] + 4))

    def approximate(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(b, rows) approximate scores, and per query the bound b on their error."""
        torch = _torch()
        # The query side first, while the caches are warm: the product streams every code through them.
        scale = (float(np.abs(queries).max()) or 1.0) / _QUERY_LEVELS
        dequantised = np.rint(queries / scale) * scale  # steps within +-63: codes 1..127 around 64
        residual = queries - dequantised
        bounds = (np.sqrt(np.einsum("ij,ij->i", dequantised, dequantised)) * self.row_error
                  + np.sqrt(np.einsum("ij,ij->i", residual, residual)) + _SLACK)
        scores = torch.ops.quantized.linear_with_input_q_dq_qweight_dq_output_fp32(
            torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)), scale, _QUERY_ZERO, self._packed)
        return scores.numpy(), bounds

    def candidates(self, queries: np.ndarray, want: int, keep: np.ndarray | None):
        scores, bounds = self.approximate(queries)
        for query, approx, bound in zip(queries, scores, bounds):
            if keep is not None:
                approx = approx[keep]
            if len(approx) <= want:
                yield None, self._exact_kept(query, np.arange(len(approx)), keep)
                continue
            # The want best approximate scores are each within `bound` of a real row's score, so the true
            # want-th best is >= edge - bound, and a row that reaches it has approx >= edge - 2 bound.
            edge = np.partition(approx, len(approx) - want)[len(approx) - want]
            possible = np.flatnonzero(approx >= edge - 2 * bound)
            yield possible, self._exact_kept(query, possible, keep)

    def _exact_kept(self, query: np.ndarray, indices: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        return self.exact_rows(query, indices if keep is None else keep[indices])
