"""The int8 scan's steps around NumKong's product (store/scans.py), compiled by Numba: one call per
step where numpy takes five to ten, each ~1-5 us right after the product has streamed the codes
through the caches. Timed inside the search path on the 2-core AVX-512 VM (one 512-d text query,
1,000 / 10,000 rows): the query's codes and bound 14 / 22 us in numpy, 6.5 / 9 here; collecting and
re-scoring the candidates 17 / 75 us in numpy, 11 / 43 here. The proof that no row is missed is in
store/scans.py."""

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


@njit(cache=True, nogil=True, fastmath=_SUM_IN_ANY_ORDER)
def rescored(approx, at_least, keep, vectors, query):
    """Indices into `approx` of the entries >= `at_least`, and their rows' float32 scores against
    `query`; entry j is row keep[j] of `vectors` (row j where keep is None)."""
    found = 0
    for j in range(approx.shape[0]):
        found += approx[j] >= at_least
    indices = np.empty(found, np.int64)
    found = 0
    for j in range(approx.shape[0]):
        if approx[j] >= at_least:
            indices[found] = j
            found += 1
    scores = np.empty(found, np.float32)
    for n in range(found):
        row = indices[n] if keep is None else keep[indices[n]]
        total = np.float32(0.0)
        for i in range(query.shape[0]):
            total += vectors[row, i] * query[i]
        scores[n] = total
    return indices, scores
