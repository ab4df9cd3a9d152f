"""Indexes on the image table: which vector index to build for a table's size, scalar indexes on the
filter columns, and `optimize` (compact, prune old versions, build or refresh indexes).

Small tables stay on exact search: it is always right, and a flat scan of tens of thousands of rows
is fast enough. Above `INDEX_THRESHOLD` rows an IVF index keeps latency flat as the table grows.
Recall is measured (benchmarks/search_bench.py, docs/scaling.md), not assumed: CLIP text queries sit
far from image vectors (the modality gap), and an index trained on image vectors loses them unless it
probes enough partitions and ranks with accurate distances; every indexed search re-ranks
`refine_factor * k` candidates with the float32 vectors.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from store.errors import InvalidRequestError, one_line
from store.text_search import refresh_text_indexes

if TYPE_CHECKING:
    from store.library import ImageLibrary

log = logging.getLogger(__name__)

VECTOR_INDEX_NAME = "vector_idx"
# Below this many rows exact search is fast enough (LanceDB flat scan: ~8 ms at 10k rows, ~250 ms at
# 100k on 2 cores) and exact; bulk jobs index above it.
INDEX_THRESHOLD = 20_000
DEFAULT_RETENTION = timedelta(days=7)
# Rebuild (retrain the partitions) once the table has grown this much since the index was trained;
# below that, optimize() folds new rows into the existing partitions.
RETRAIN_GROWTH = 2.0

# Filter columns and the scalar index that fits each (BTree: ranges; Bitmap: few distinct values;
# LabelList: array_has / array_has_any on list columns). `id` speeds merge_insert and id lookups.
SCALAR_INDEXES = {
    "id": "BTREE",
    "file_size": "BTREE",
    "indexed_at": "BTREE",
    "width": "BTREE",
    "height": "BTREE",
    "format": "BITMAP",
    "tags": "LABEL_LIST",
}


@dataclass(frozen=True)
class VectorIndexPlan:
    """A vector index and the search settings measured to hold recall@10 >= 0.95 with it."""

    index_type: str  # IVF_PQ, IVF_RQ or IVF_HNSW_SQ
    num_partitions: int
    num_sub_vectors: int | None  # IVF_PQ only
    nprobes: int
    refine_factor: int

    def config(self):
        from lancedb.index import HnswSq, IvfPq, IvfRq, IvfSq

        if self.index_type == "IVF_PQ":
            return IvfPq(distance_type="cosine", num_partitions=self.num_partitions,
                         num_sub_vectors=self.num_sub_vectors)
        if self.index_type == "IVF_RQ":
            return IvfRq(distance_type="cosine", num_partitions=self.num_partitions)
        if self.index_type == "IVF_SQ":
            return IvfSq(distance_type="cosine", num_partitions=self.num_partitions)
        if self.index_type == "IVF_HNSW_SQ":
            return HnswSq(distance_type="cosine", num_partitions=self.num_partitions)
        raise InvalidRequestError(f"unknown vector index type {self.index_type!r}")


def plan_vector_index(rows: int, dim: int, index_type: str | None = None) -> VectorIndexPlan:
    """Index parameters from the table size and vector dimension.

    Partitions ~ sqrt(rows) keeps both the centroid scan and each partition small (1M rows: 1024
    partitions of ~1000 vectors). PQ uses dim/8 sub-vectors (1 byte per 8 dims: 64 bytes for 512-d,
    32x smaller than float32). Probes and the refine factor come from benchmarks/search_bench.py:
    text-like queries (across the modality gap) need more probes than image-like ones.
    """
    index_type = _canonical_type(index_type or DEFAULT_INDEX_TYPE)
    if index_type not in INDEX_TYPES:
        raise InvalidRequestError(f"unknown vector index type {index_type!r}: use {', '.join(INDEX_TYPES)}")
    partitions = int(2 ** round(math.log2(max(math.sqrt(max(rows, 1)), 1))))
    partitions = max(1, min(partitions, 4096, rows // 256 or 1))  # >= 256 rows to train each centroid
    sub_vectors = None
    if index_type == "IVF_PQ":
        sub_vectors = next(s for s in (dim // 8, dim // 4, dim // 2, dim) if s >= 1 and dim % s == 0)
    nprobes = max(MIN_PROBES, math.ceil(partitions * PROBE_FRACTION[index_type]))
    return VectorIndexPlan(index_type, partitions, sub_vectors, min(nprobes, partitions), REFINE_FACTOR[index_type])


MIN_PROBES = 8
# Measured at 1M x 512 (docs/scaling.md): text-like queries across the modality gap find their
# neighbours spread over more partitions than image-like ones, so probes, not refinement, decide
# their recall: IVF_SQ text recall@10 0.47 / 0.78 / 0.97 at 16 / 31 / 64 of 1024 partitions, with
# any refine factor. PQ and RaBitQ codes also misrank them and need a large refine on top; 8-bit SQ
# ranks them right, so it is the default (4x smaller than float32, ~4 ms at 1M rows on 2 cores).
# At 8 % of partitions (82) text recall@10 varied with the k-means of each build (0.976 / 0.983 /
# 1.000 over three builds of the same 1M rows); at 10 % (103) it was 0.998 / 1.000 / 1.000.
PROBE_FRACTION = {"IVF_SQ": 0.10, "IVF_PQ": 0.08, "IVF_RQ": 0.08, "IVF_HNSW_SQ": 0.08}
REFINE_FACTOR = {"IVF_SQ": 5, "IVF_PQ": 40, "IVF_RQ": 20, "IVF_HNSW_SQ": 5}
INDEX_TYPES = tuple(PROBE_FRACTION)
DEFAULT_INDEX_TYPE = "IVF_SQ"


def _canonical_type(name: str) -> str:
    """'IvfPq' (list_indices), 'ivf_pq' (users) and 'IVF_PQ' (create_index) name the same index."""
    key = name.upper().replace("_", "")
    return {"IVFPQ": "IVF_PQ", "IVFRQ": "IVF_RQ", "IVFSQ": "IVF_SQ", "IVFHNSWSQ": "IVF_HNSW_SQ"}.get(key, name.upper())


@dataclass
class OptimizeReport:
    rows: int
    vector_index: str | None  # "built", "rebuilt", "refreshed", "none (exact search)"
    plan: dict | None
    scalar_indexes: list[str] = field(default_factory=list)
    text_indexes: list[str] = field(default_factory=list)  # fields whose full-text index was built
    fragments_before: int = 0
    fragments_after: int = 0
    removed_versions: int = 0
    bytes_removed: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _vector_index(table) -> Any | None:
    for index in table.list_indices():
        if "vector" in list(getattr(index, "columns", [])) and index.index_type.upper().startswith("IVF"):
            return index
    return None


def index_status(library: "ImageLibrary") -> dict:
    """Rows, every index with its type and how many rows it does not cover yet, and the search plan."""
    table = library.table
    rows = table.count_rows()
    indexes = []
    for index in table.list_indices():
        stats = table.index_stats(index.name)
        indexes.append({
            "name": index.name, "type": _canonical_type(index.index_type), "columns": list(index.columns),
            "indexed_rows": getattr(stats, "num_indexed_rows", None),
            "unindexed_rows": getattr(stats, "num_unindexed_rows", None),
        })
    plan = search_plan(library)
    return {"rows": rows, "indexes": indexes, "search": asdict(plan) if plan else "exact"}


def search_plan(library: "ImageLibrary") -> VectorIndexPlan | None:
    """The plan of the vector index in place (probes, refine factor), or None for exact search.

    The plan is a pure function of the indexed row count and dim, so it is recomputed, not stored.
    """
    table = library.table
    index = _vector_index(table)
    if index is None:
        return None
    stats = table.index_stats(index.name)
    dim = table.schema.field("vector").type.list_size
    indexed = int(getattr(stats, "num_indexed_rows", 0) or 0)
    return plan_vector_index(indexed, dim, index.index_type)


def build_vector_index(library: "ImageLibrary", plan: VectorIndexPlan) -> None:
    library.check_writable()
    library.table.create_index("vector", replace=True, config=plan.config(),
                               name=VECTOR_INDEX_NAME)


def build_scalar_indexes(library: "ImageLibrary", columns: dict[str, str] = SCALAR_INDEXES,
                         missing_only: bool = False) -> list[str]:
    """Create (or replace) a scalar index per filter column present in the table.

    With `missing_only`, columns that already have one are skipped: optimize() keeps those current.
    """
    from lancedb.index import BTree, Bitmap, LabelList

    library.check_writable()
    configs = {"BTREE": BTree, "BITMAP": Bitmap, "LABEL_LIST": LabelList}
    table = library.table
    indexed = {tuple(i.columns) for i in table.list_indices()} if missing_only else set()
    built = []
    for column, kind in columns.items():
        if column not in table.schema.names or (column,) in indexed:
            continue
        table.create_index(column, config=configs[kind](), replace=True, name=f"{column}_idx")
        built.append(f"{column}:{kind}")
    return built


def optimize(
    library: "ImageLibrary",
    retention: timedelta = DEFAULT_RETENTION,
    index_threshold: int = INDEX_THRESHOLD,
    index_type: str | None = None,
    rebuild: bool = False,
) -> OptimizeReport:
    """Compact fragments, drop versions older than `retention`, then build or refresh indexes.

    Tables below `index_threshold` rows keep exact search (an existing vector index is left alone:
    rows added since are searched exactly anyway). An index trained on fewer than half of today's
    rows is retrained, since its partitions were sized for a smaller table.
    """
    library.check_writable()  # compaction, version cleanup and index builds are all writes
    started = time.perf_counter()
    table = library.table
    existing = _vector_index(table)
    # Read before table.optimize(), which folds new rows into the index and hides the growth.
    trained_on = int(getattr(table.index_stats(existing.name), "num_indexed_rows", 0) or 0) if existing else 0
    fragments_before = len(table.to_lance().get_fragments())
    versions_before = len(table.list_versions())
    bytes_before = library.disk_bytes()
    with warnings.catch_warnings():  # a zero retention was asked for: lancedb's warning is noise
        warnings.filterwarnings("ignore", message=r".*cleanup_older_than=0")
        table.optimize(cleanup_older_than=retention)  # compact, prune, fold new rows into indexes
    fragments_after = len(table.to_lance().get_fragments())
    rows = table.count_rows()
    dim = table.schema.field("vector").type.list_size
    action, plan = "none (exact search)", None
    if existing is not None:
        wanted_type = _canonical_type(index_type or existing.index_type)
        if rebuild or wanted_type != _canonical_type(existing.index_type) or trained_on * RETRAIN_GROWTH <= rows:
            plan = plan_vector_index(rows, dim, wanted_type)
            build_vector_index(library, plan)
            action = "rebuilt"
        else:
            plan = plan_vector_index(trained_on, dim, existing.index_type)
            action = "refreshed"
    elif rows >= max(index_threshold, 256):
        plan = plan_vector_index(rows, dim, index_type)
        build_vector_index(library, plan)
        action = "built"
    scalars = build_scalar_indexes(library, missing_only=not rebuild) if rows else []
    texts = refresh_text_indexes(library)
    # Index builds are commits too: prune again so only `retention` worth of versions remains.
    table.to_lance().cleanup_old_versions(older_than=retention)
    versions_after = len(table.list_versions())
    return OptimizeReport(
        rows=rows, vector_index=action, plan=asdict(plan) if plan else None, scalar_indexes=scalars, text_indexes=texts,
        fragments_before=fragments_before, fragments_after=fragments_after,
        removed_versions=max(0, versions_before + 1 - versions_after),
        bytes_removed=max(0, bytes_before - library.disk_bytes()),
        seconds=round(time.perf_counter() - started, 3),
    )


def optimize_if_large(library: "ImageLibrary", threshold: int | None = None, **kwargs) -> OptimizeReport | None:
    """The hook for bulk jobs: optimize once the table has `threshold` (INDEX_THRESHOLD) rows; below it,
    only build or refresh the full-text indexes (cheap: keyword search is on from the first job)."""
    threshold = INDEX_THRESHOLD if threshold is None else threshold
    library.check_writable()
    if library.count() < threshold:
        try:
            refresh_text_indexes(library)
        except Exception as error:  # noqa: BLE001 - the job's rows are written; new rows are found unindexed
            log.warning("full-text index not refreshed (keyword search still finds new rows, more slowly): %s",
                        one_line(error))
        return None
    return optimize(library, index_threshold=threshold, **kwargs)
