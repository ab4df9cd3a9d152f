"""How a search runs: one matrix product over the vector cache, LanceDB's IVF index, or LanceDB's exact
scan, chosen per batch of queries from the table's size, the memory budget and the filter's selectivity.

The cost model (2 cores, AVX-512, benchmarks/search_bench.py): a float32 product streams every
scanned vector once per batch (~0.2 ns per float) and spends ~0.04 ns per float per query on
arithmetic; from 1,000 rows the cache scans int8 codes instead (store/scans.py: ~0.03 ns per
value, ~0.007 per query in a batch; 1.3-1.5 ms a query over 100,000 x 512 on two threads); an IVF
query costs ~4 ms whatever the size. So one query over fewer than ~250,000 512-d rows, a batch over
more, or a filter that leaves few rows is faster from the cache; LanceDB's exact scan (~100x slower
than the product) is for tables over the budget without an index, and for a library's first single
search, before the cache is worth loading. Over the budget the cache may hold the metadata alone:
LanceDB then returns ids and scores only and the rows come from memory. Every result of the cache
path equals LanceDB's exact search: same ids, same scores (float32 cosine), ties broken by id; the
int8 scan only chooses which rows to score in float32.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from store import scans
from store.errors import LibraryError

if TYPE_CHECKING:
    from store.library import ImageLibrary
    from store.vector_cache import Snapshot, VectorCache

log = logging.getLogger(__name__)

PATH_CACHE, PATH_IVF, PATH_EXACT = "cache", "lancedb-ivf", "lancedb-exact"
STREAM_SECONDS_PER_FLOAT = 2e-10
MULTIPLY_SECONDS_PER_FLOAT = 4e-11  # per query in the batch
STREAM_SECONDS_PER_INT8 = 3e-11  # store/scans.py Int8Scan, 100,000 x 512 rows: 1.3-1.5 ms a query
MULTIPLY_SECONDS_PER_INT8 = 7e-12
IVF_SECONDS_PER_QUERY = 4e-3
SCORE_BLOCK_BYTES = 64 << 20  # queries x rows scores held at once
DENSE_SELECTION = 0.5  # above this share of rows, score them all and pick, rather than gather
MAX_K = 1_000_000  # LanceDB takes k as a 64-bit count; far above any useful result list


def product_seconds(rows: int, dim: int, queries: int, int8: bool = False) -> float:
    if int8:
        return rows * dim * (STREAM_SECONDS_PER_INT8 + queries * MULTIPLY_SECONDS_PER_INT8)
    return rows * dim * (STREAM_SECONDS_PER_FLOAT + queries * MULTIPLY_SECONDS_PER_FLOAT)


def product_beats_index(rows: int, dim: int, queries: int, int8: bool = False) -> bool:
    return product_seconds(rows, dim, queries, int8) <= queries * IVF_SECONDS_PER_QUERY


@dataclass(frozen=True)
class TableState:
    version: int
    rows: int
    dim: int
    columns: frozenset  # the schema's column names (an older table lacks the photo columns)
    table_uses: int  # ImageLibrary._table_uses when the version was read
    fresh_until: float  # monotonic time until which the version may be reused


@dataclass(frozen=True)
class Route:
    path: str
    reason: str
    snapshot: "Snapshot | None" = None
    positions: np.ndarray | None = None  # the filter's rows in the snapshot; None: every row


def table_state(library: "ImageLibrary") -> TableState:
    """Version, rows and dim of the table. Asking LanceDB for the version costs ~0.1-1 ms (a hop to its
    event-loop thread, slow on a busy machine), more than a product over 10,000 rows, so back-to-back
    searches reuse it for the library's read-consistency interval, the staleness LanceDB itself
    allows for other writers' commits. Any other use of `library.table` (every write in this process
    goes through it) makes the next search ask again, so a handle always sees its own writes."""
    state = getattr(library, "_search_state", None)
    now = time.monotonic()
    if state is not None and state.table_uses == library._table_uses and now < state.fresh_until:
        return state
    table = library._open()
    version = int(table.version)
    interval = library.read_consistency_interval
    fresh_until = now + interval.total_seconds() if interval else now
    if state is None or state.version != version:
        schema = table.schema
        state = TableState(version, int(table.count_rows()), schema.field("vector").type.list_size,
                           frozenset(schema.names), 0, 0.0)
        plan_at(library, version)
    state = replace(state, table_uses=library._table_uses, fresh_until=fresh_until)
    library._search_state = state
    return state


def plan_at(library: "ImageLibrary", version: int):
    """The index's search plan at `version` (store/indexes.py), looked up once per version."""
    cached = getattr(library, "_plan_cache", None)
    if cached is None or cached[0] != version:
        from store.indexes import search_plan

        cached = (version, search_plan(library))
        library._plan_cache = cached
    return cached[1]


def route(library: "ImageLibrary", cache: "VectorCache", state: TableState, queries: int,
          where: str | None) -> Route:
    """The path for this batch. A cache route is kept for the next batch of the same size and filter
    while nothing it was chosen from has moved (version, budget, snapshot, its scan): choosing costs
    ~20-30 us after a scan here, 5-7 % of a search over 10,000 rows."""
    key = (state.version, state.rows, queries, where, cache.budget_bytes)
    kept = getattr(library, "_kept_route", None)
    if kept is not None and kept[0] == key:
        snapshot = cache.current()
        if kept[1].snapshot is snapshot and kept[2] is snapshot.scan_now():
            return kept[1]
    chosen = _route(library, cache, state, queries, where)
    if chosen.path == PATH_CACHE:
        library._kept_route = (key, chosen, chosen.snapshot.scan_now())
    return chosen


def _route(library: "ImageLibrary", cache: "VectorCache", state: TableState, queries: int,
           where: str | None) -> Route:
    plan = plan_at(library, state.version)
    lancedb = PATH_IVF if plan is not None else PATH_EXACT
    if not cache.enabled:
        return Route(lancedb, "vector cache off")
    if not cache.fits(state.rows, state.dim):
        reason = f"{state.rows} rows exceed the vector cache budget"
        if not cache.fits_metadata(state.rows) or _first_search(cache, queries):
            return Route(lancedb, reason)
        metadata = cache.snapshot(library._open, state.version, need_vectors=False)
        return Route(lancedb, reason + (", rows from memory" if metadata is not None else ""), metadata)
    int8 = scans.uses_int8(state.rows)
    if plan is not None and not where and not product_beats_index(state.rows, state.dim, queries, int8):
        return Route(PATH_IVF, f"{state.rows} rows: the index is faster for {queries} query(ies)")
    if _first_search(cache, queries):
        return Route(lancedb, "the first search: the vector cache loads on the next one")
    snapshot = cache.snapshot(library._open, state.version, need_vectors=False)
    if snapshot is None or snapshot.vectors is None:
        return Route(lancedb, "the table grew past the vector cache budget", snapshot)
    positions = snapshot.select(where) if where else None
    scanned = snapshot.rows if positions is None else len(positions)
    gathered = _gathers(positions, snapshot.rows)
    scan_kind = "float32" if gathered else snapshot.scan_now().kind
    int8 = scan_kind != "float32"
    if plan is not None and not product_beats_index(scanned, state.dim, queries, int8):
        return Route(PATH_IVF, f"{scanned} rows to scan: the index is faster for {queries} query(ies)")
    reason = f"{scanned} of {snapshot.rows} rows" if where else f"{snapshot.rows} rows"
    reason += f", {scan_kind} scan"
    return Route(PATH_CACHE, reason, snapshot, positions)


def _first_search(cache: "VectorCache", queries: int) -> bool:
    """Loading costs ~100x one LanceDB query: a one-off search (the CLI's) should not pay it, so the
    first single search goes to LanceDB and the next one loads the cache. Batches load at once."""
    first = queries == 1 and cache.current() is None and not cache.wanted
    cache.wanted = True
    return first


def predicted_path(library: "ImageLibrary", cache: "VectorCache") -> str:
    """The path an unfiltered single query would take now (for stats), without loading anything."""
    state = table_state(library)
    plan = plan_at(library, state.version)
    if cache.fits(state.rows, state.dim) and (
            plan is None or product_beats_index(state.rows, state.dim, 1, scans.uses_int8(state.rows))):
        return PATH_CACHE
    return PATH_IVF if plan is not None else PATH_EXACT


def search_many(library: "ImageLibrary", cache: "VectorCache", queries: np.ndarray, k: int, where: str | None,
                min_score: float | None, with_thumbnail: bool, with_vector: bool,
                exclude_ids: Sequence[str]) -> list[list[dict]]:
    """`queries` and `where` as ImageLibrary.search_many checked them (checked_queries, validate_filter)."""
    state = table_state(library)
    if not len(queries):
        return []
    chosen = route(library, cache, state, len(queries), where)
    log.debug("search: %d query(ies), k=%d, path %s (%s)%s", len(queries), k, chosen.path, chosen.reason,
              f", where {where!r}" if where else "")
    library.last_search_path = chosen.path
    if chosen.path == PATH_CACHE:
        return product_search(chosen.snapshot, queries, k, chosen.positions, min_score, with_thumbnail,
                              with_vector, exclude_ids, where)
    return [lancedb_search(library, state, q, k, where, min_score, with_thumbnail, with_vector, exclude_ids,
                           chosen.snapshot) for q in queries]


def lancedb_search(library: "ImageLibrary", state: TableState, query: np.ndarray, k: int, where: str | None,
                   min_score: float | None, with_thumbnail: bool, with_vector: bool,
                   exclude_ids: Sequence[str], metadata: "Snapshot | None" = None) -> list[dict]:
    """Search in LanceDB, through the index when there is one, filtered before the search. The plan
    and the columns come from `state`: asking the table for each costs ~0.3-0.5 ms a query. With a
    snapshot of this version (`metadata`), LanceDB returns row ids and scores only and the rows come
    from memory."""
    import pyarrow.compute as pc

    from store.library import _columns, id_filter

    clauses = [f"({where})"] if where else []  # `where` was validated by ImageLibrary.search_many
    if exclude_ids:
        clauses.append("NOT " + id_filter(exclude_ids))
    predicate = " AND ".join(clauses) if clauses else None
    plan = plan_at(library, state.version)
    if metadata is not None and metadata.version != state.version:
        metadata = None
    columns = [] if metadata is not None else _columns(state.columns, with_thumbnail, with_vector)
    hits = library._vector_query(query, k, predicate, columns, plan, with_row_id=metadata is not None)
    if plan is not None and predicate and hits.num_rows < k and library._open().count_rows(predicate) > hits.num_rows:
        # A selective filter can leave fewer than k matches in the probed partitions: the
        # matching rows are few, so an exact scan of just them is cheap and returns k.
        hits = library._vector_query(query, k, predicate, columns, None, with_row_id=metadata is not None)
    if metadata is None:
        rows = hits.drop_columns(["_distance"]).to_pylist()
    else:
        positions = metadata.positions_of(hits["_rowid"].to_numpy())
        if positions is None:  # a commit landed between reading the version and the query
            return lancedb_search(library, state, query, k, where, min_score, with_thumbnail, with_vector,
                                  exclude_ids)
        rows = _with_columns(metadata, metadata.rows_at(positions), positions, with_thumbnail, with_vector)
    results = []
    for row, score in zip(rows, pc.subtract(1.0, hits["_distance"]).to_pylist()):
        if min_score is not None and score < min_score:
            continue
        row["score"] = float(score)
        results.append(row)
    return results


def product_search(snapshot: "Snapshot", queries: np.ndarray, k: int, positions: np.ndarray | None,
                   min_score: float | None, with_thumbnail: bool, with_vector: bool,
                   exclude_ids: Sequence[str], where: str | None = None) -> list[list[dict]]:
    """Exact top-k by cosine for each (unit) query: one product per block of queries over the (selected) rows."""
    scan, keep, scanned = snapshot.scan_now(), positions, snapshot.rows
    if _gathers(positions, snapshot.rows):
        scan, keep = scans.FloatScan(snapshot.subset(where, positions)), None  # the few selected rows, gathered once
        scanned = len(positions)
    excluded = set(exclude_ids)
    want = k + len(excluded)  # the excluded rows can take at most that many places
    block = max(1, SCORE_BLOCK_BYTES // max(4 * scanned, 1))
    results = []
    for start in range(0, len(queries), block):
        for found, scores in scan.candidates(queries[start:start + block], want, keep):
            # `found` indexes the selected rows; `positions` maps them to snapshot rows.
            at = found if positions is None else positions[found]
            results.append(_rows(snapshot, *_top(at, scores, want, snapshot), k, excluded, min_score,
                                 with_thumbnail, with_vector))
    return results


def _gathers(positions: np.ndarray | None, rows: int) -> bool:
    """A selection of at most DENSE_SELECTION of the rows is gathered and scanned in float32."""
    return positions is not None and len(positions) <= DENSE_SELECTION * rows


def _top(at: np.ndarray, scores: np.ndarray, want: int, snapshot: "Snapshot") -> tuple[np.ndarray, list]:
    """Of a scan's candidates (snapshot rows `at`, their scores best first, ties by row), the `want`
    best, ties at the edge included, ties ordered by id; and their scores as Python floats."""
    ranked = scores.tolist()  # compared in Python, cheaper than more numpy calls
    cut = min(want, len(ranked))
    while cut < len(ranked) and ranked[cut] == ranked[cut - 1]:
        cut += 1  # ties at the edge stay: the id order below decides which of them are kept
    at, ranked = at[:cut], ranked[:cut]
    if len(set(ranked)) < len(ranked):  # equal scores (best first: neighbours): order those by id
        ids = np.asarray(snapshot.meta["id"].take(at).to_pylist(), dtype=str)
        at = at[np.lexsort((ids, -scores[:cut]))]
    return at, ranked


def _rows(snapshot, where, ranked, k, excluded, min_score, with_thumbnail, with_vector) -> list[dict]:
    if not excluded:
        where = where[:k]  # the ties past k were kept only to be ordered by id
    if not excluded and min_score is None and not (with_thumbnail or with_vector):  # the usual search
        records = snapshot.rows_at(where)
        for record, score in zip(records, ranked):
            record["score"] = score
        return records
    out, kept = [], []
    for at, (record, score) in enumerate(zip(snapshot.rows_at(where), ranked)):
        if excluded and record["id"] in excluded:
            continue
        if min_score is not None and score < min_score:
            break  # best first: the rest score lower still
        record["score"] = score  # last, as on the LanceDB path (the columns below are added before it)
        out.append(record)
        kept.append(at)
        if len(out) == k:
            break
    if with_thumbnail or with_vector:
        _with_columns(snapshot, out, where[kept], with_thumbnail, with_vector)
        for record in out:
            record["score"] = record.pop("score")
    return out


def _with_columns(snapshot: "Snapshot", records: list[dict], positions: np.ndarray, with_thumbnail: bool,
                  with_vector: bool) -> list[dict]:
    """The records with the columns a snapshot does not hold (thumbnail, stored vector) added."""
    for wanted, column in ((with_thumbnail, "thumbnail"), (with_vector, "vector")):
        if wanted:
            for record, value in zip(records, snapshot.take_column(positions, column)):
                record[column] = value
    return records


def cached_snapshot(library: "ImageLibrary") -> "Snapshot | None":
    """The vector cache's snapshot of the current version (loading it), or None when it does not fit."""
    state = table_state(library)
    if not library.vector_cache.fits(state.rows, state.dim):
        return None
    return library.vector_cache.snapshot(library._open, state.version)


def checked_queries(library: "ImageLibrary", vectors, k: int) -> np.ndarray:
    """The query vectors as an (n, dim) float32 array of unit vectors (LanceDB's cosine normalises them
    too), or a one-line LibraryError saying what is wrong. One pass: the squared norms that normalise
    the queries also find NaN, infinity and all-zero vectors."""
    if not 1 <= k <= MAX_K:
        raise LibraryError(f"k must be between 1 and {MAX_K:,}")
    dim = table_state(library).dim  # the search reuses the same state: no second read
    queries = np.asarray(vectors, dtype=np.float32)
    queries = queries.reshape(-1, queries.shape[-1]) if queries.ndim else queries.reshape(1, -1)
    if queries.shape[-1] != dim:
        raise LibraryError(f"query vector has {queries.shape[-1]} values, table expects {dim}")
    if len(queries) == 1:  # an interactive search: one dot product and a scalar, ~5 us less than einsum
        row = queries[0]
        square = float(row.dot(row))  # ndarray.dot: 0.3 us where `@` takes 0.9
        if 0 < square < math.inf:  # NaN fails too: the checks below name it
            return queries * (1 / math.sqrt(square))  # a Python float scalar keeps float32
    else:
        squares = np.einsum("ij,ij->i", queries, queries)
        if all(0 < square < math.inf for square in squares.tolist()):
            return queries / np.sqrt(squares)[:, None]
    if not np.isfinite(queries).all():
        raise LibraryError("the query vector contains NaN or infinity: nothing is near it")
    if not queries.any(axis=1).all():
        raise LibraryError("the query vector is all zeros: it has no direction to compare by cosine")
    wide = queries.astype(np.float64)  # values whose squares overflow or underflow float32
    return (wide / np.linalg.norm(wide, axis=1, keepdims=True)).astype(np.float32)
