"""The int8 scan's steps around NumKong's product (store/scans.py), compiled by Numba: one call per
step where numpy takes five to ten, each ~1-5 us right after the product has streamed the codes
through the caches. Timed inside the search path on the 2-core AVX-512 VM (one 512-d text query,
1,000 / 10,000 rows): the query's codes and bound 14 / 22 us in numpy, 6.5 / 9 here. The top-k
edge, collecting, re-scoring and sorting the candidates is one call (`best_rescored`): 6-10 us at
1,000 rows in the search (~29 candidates), where numpy's partition, the collecting and re-scoring
kernel and a numpy sort took 14-18. The proof that no row is missed is in store/scans.py."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def quantise(queries, levels, row_step, row_error, slack):
    """For unit `queries` (b, dim): their int8 codes (b, dim), and per query the score one unit of the
    codes' product with the rows' codes stands for and the bound on that product's error, in those
    units. Float64 throughout: the residual |d| must be the real one for the bound to hold."""
    count, dim = queries.shape
    codes = np.empty((count, dim), np.int8)
    units = np.empty(count)
    bounds = np.empty(count)
    for r in range(count):
        largest = 0.0
        for i in range(dim):
            largest = max(largest, abs(float(queries[r, i])))
        step = largest / levels  # > 0: unit queries
        square = 0.0
        for i in range(dim):
            code = np.rint(queries[r, i] / step)  # a whole number within +-levels
            codes[r, i] = np.int8(code)
            residual = queries[r, i] - code * step
            square += residual * residual
        d = math.sqrt(square)
        units[r] = step * row_step
        # |q^| <= |q| + |d| = 1 + |d| for a unit query (triangle inequality)
        bounds[r] = ((1 + d) * row_error + d + slack) / units[r]
    return codes, units, bounds


# Reordering the float32 sum lets LLVM vectorise it (5-7x faster than in order); no flag that assumes
# away NaN or infinity.
_SUM_IN_ANY_ORDER = {"reassoc", "nsz", "contract"}
_EVERY_CODE = -(2**62)  # below any product of codes: every row is a candidate


@njit(cache=True, nogil=True, fastmath=_SUM_IN_ANY_ORDER)
def best_rescored(approx, keep, want, bound, vectors, query):
    """The rows that can be among the `want` best for `query`, re-scored in float32 and sorted best
    first (ties by index): the entries of `approx` (one query's code products; entry j stands for row
    keep[j] of `vectors`, row j where keep is None) within 2 `bound` of the want-th best of them.
    Returns their indices j and float32 scores."""
    count = approx.shape[0] if keep is None else keep.shape[0]
    at_least = _EVERY_CODE
    if want < count:
        at_least = math.floor(_edge(approx, keep, want, count) - 2 * bound)
    found = 0
    for j in range(count):
        found += approx[_row(keep, j)] >= at_least
    indices = np.empty(found, np.int64)
    found = 0
    for j in range(count):
        if approx[_row(keep, j)] >= at_least:
            indices[found] = j
            found += 1
    scores = np.empty(found, np.float32)
    for n in range(found):
        row = _row(keep, indices[n])
        total = np.float32(0.0)
        for i in range(query.shape[0]):
            total += vectors[row, i] * query[i]
        scores[n] = total
    order = np.argsort(-scores, kind="mergesort")  # stable: equal scores keep the index order
    return indices[order], scores[order]


@njit(cache=True, nogil=True)
def _row(keep, j):
    """The row entry j stands for (Numba compiles the None case without the branch)."""
    return j if keep is None else keep[j]


@njit(cache=True, nogil=True)
def _edge(approx, keep, want, count):
    """The want-th largest of the `count` (kept) entries of `approx`, 1 <= want < count: a min-heap of
    the best so far, one comparison an entry once it is full. Measured against numpy's partition
    (AVX-512): 1.2 / 1.5 us over 1,000 entries, 43 / 39 over 100,000 (want 10), without a call."""
    heap = np.empty(want, approx.dtype)
    for j in range(want):
        heap[j] = approx[_row(keep, j)]
    heap.sort()  # ascending is a valid min-heap
    for j in range(want, count):
        value = approx[_row(keep, j)]
        if value <= heap[0]:
            continue
        at = 0  # the new value replaces the smallest: sift it down
        while True:
            child = 2 * at + 1
            if child >= want:
                break
            if child + 1 < want and heap[child + 1] < heap[child]:
                child += 1
            if heap[child] >= value:
                break
            heap[at] = heap[child]
            at = child
        heap[at] = value
    return heap[0]
