"""Vector and scalar indexes on a real LanceDB table: planning, optimize, and searches that stay right."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

import store.indexes as indexes
from store import ImageLibrary
from store.indexes import DEFAULT_INDEX_TYPE, index_status, optimize, optimize_if_large, plan_vector_index

DIM = 32
MODEL = "test/tiny-model"
CLUSTERS = 12
FORMATS = ["JPEG", "PNG", "WEBP"]
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def clustered(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLUSTERS, DIM))
    labels = np.arange(n) % CLUSTERS
    vectors = centres[labels] + 0.35 * rng.normal(size=(n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), labels


def rows(n, start=0, seed=0):
    vectors, labels = clustered(n, seed)
    return [{
        "id": f"{start + i:064x}", "uri": f"/p/{start + i}.jpg", "file_name": f"{start + i}.jpg",
        "tags": [f"cluster{labels[i]}"] + (["rare"] if (start + i) % 97 == 0 else []),
        "width": 100 + (start + i) % 50, "height": 80, "format": FORMATS[(start + i) % 3],
        "file_size": 1000 + start + i, "indexed_at": T0 + timedelta(hours=start + i),
        "vector": vectors[i],
    } for i in range(n)]


@pytest.fixture
def library(tmp_path):
    # The vector cache off: these searches are about LanceDB's indexes (tests/test_vector_cache.py
    # covers the cache, and its choice between the two).
    lib = ImageLibrary(str(tmp_path / "db"), "images", vector_cache_mb=0)
    lib.ensure(MODEL, DIM)
    return lib


@pytest.fixture
def indexed(library):
    """1,200 rows (enough to train IVF_PQ) with the vector index and the scalar indexes built."""
    library.add(rows(1200))
    report = optimize(library, index_threshold=500)
    assert report.vector_index == "built"
    return library


def exact_ids(library, vector, k, where=None):
    hits = library.table.search(vector).distance_type("cosine").bypass_vector_index().limit(k)
    if where:
        hits = hits.where(where, prefilter=True)
    return hits.select(["id"]).to_arrow()["id"].to_pylist()


def test_plan_scales_partitions_with_rows_and_compresses_by_dim():
    small, large = plan_vector_index(10_000, 512), plan_vector_index(1_000_000, 512)
    assert large.num_partitions > small.num_partitions
    assert large.num_partitions == 1024 and large.index_type == DEFAULT_INDEX_TYPE
    assert 1 <= large.nprobes <= large.num_partitions and large.refine_factor >= 1
    assert plan_vector_index(1_000_000, 512, "IVF_PQ").num_sub_vectors == 64
    # tiny tables still get a trainable plan: at least 256 rows per partition
    assert plan_vector_index(600, 32).num_partitions == 2
    assert plan_vector_index(10_000, 512, "ivf_rq").index_type == "IVF_RQ"
    with pytest.raises(ValueError, match="unknown vector index type"):
        plan_vector_index(1000, 512, "LSH")


def test_small_tables_stay_on_exact_search_with_scalar_indexes(library):
    library.add(rows(300))
    report = optimize(library)
    assert report.vector_index == "none (exact search)" and report.plan is None
    assert "tags:LABEL_LIST" in report.scalar_indexes and "format:BITMAP" in report.scalar_indexes
    status = index_status(library)
    assert status["search"] == "exact"
    assert {i["columns"][0] for i in status["indexes"]} >= {"id", "tags", "format", "file_size", "indexed_at"}
    assert optimize_if_large(library) is None


def test_indexed_search_keeps_recall_against_exact_search(indexed):
    status = index_status(indexed)
    vector_indexes = [i for i in status["indexes"] if i["columns"] == ["vector"]]
    assert vector_indexes[0]["type"] == DEFAULT_INDEX_TYPE and vector_indexes[0]["unindexed_rows"] == 0
    queries, _ = clustered(40, seed=7)
    overlap = [len(set(h["id"] for h in indexed.search(q, k=10)) & set(exact_ids(indexed, q, 10))) / 10
               for q in queries]
    assert np.mean(overlap) >= 0.95
    stored = indexed.get(f"{5:064x}", with_vector=True)
    assert indexed.search(np.asarray(stored["vector"]), k=1)[0]["id"] == stored["id"]


@pytest.mark.parametrize("where", [
    "array_has(tags, 'rare')",
    "format = 'PNG' AND array_has(tags, 'cluster4')",
    "file_size BETWEEN 1100 AND 1140",
    "indexed_at >= TIMESTAMP '2024-01-02 00:00:00' AND indexed_at < TIMESTAMP '2024-01-03 00:00:00'",
])
def test_filtered_search_with_an_index_returns_k_matches(indexed, where, monkeypatch):
    # Probe a single partition so the filter, not the index, decides what is found.
    monkeypatch.setattr(indexes, "MIN_PROBES", 1)
    monkeypatch.setitem(indexes.PROBE_FRACTION, DEFAULT_INDEX_TYPE, 0.0)
    indexed._plan_cache = None
    query = clustered(1, seed=11)[0][0]
    k = 10
    matching = indexed.count(where)
    assert matching >= k
    hits = indexed.search(query, k=k, where=where)
    assert len(hits) == k and indexed.last_search_path == "lancedb-ivf"
    assert {h["id"] for h in hits} <= set(exact_ids(indexed, query, matching, where))


def test_new_rows_are_found_before_and_folded_in_by_optimize(indexed):
    added = rows(100, start=5000, seed=3)
    indexed.add(added)
    target = np.asarray(added[0]["vector"])
    assert indexed.search(target, k=1)[0]["id"] == added[0]["id"]  # unindexed rows are scanned
    report = optimize(indexed, index_threshold=500)
    assert report.vector_index == "refreshed"
    vector = [i for i in index_status(indexed)["indexes"] if i["columns"] == ["vector"]][0]
    assert vector["unindexed_rows"] == 0
    assert indexed.search(target, k=1)[0]["id"] == added[0]["id"]


def test_index_is_retrained_once_the_table_has_doubled(indexed):
    indexed.add(rows(1500, start=10_000, seed=5))
    report = optimize(indexed, index_threshold=500)
    assert report.vector_index == "rebuilt" and report.rows == 2700


def test_asking_for_another_index_type_rebuilds_it(indexed):
    report = optimize(indexed, index_threshold=500, index_type="ivf_pq")
    assert report.vector_index == "rebuilt" and report.plan["index_type"] == "IVF_PQ"
    assert indexed.search_plan().index_type == "IVF_PQ"
    stored = indexed.get(f"{9:064x}", with_vector=True)
    assert indexed.search(np.asarray(stored["vector"]), k=1)[0]["id"] == stored["id"]


def test_optimize_compacts_and_removes_versions_past_retention(library):
    for start in range(0, 300, 60):  # five small commits, five fragments
        library.add(rows(60, start=start))
    versions_before = len(library.versions())
    report = optimize(library, retention=timedelta(0))
    assert report.fragments_before == 5 and report.fragments_after == 1
    assert report.removed_versions >= 1
    assert len(library.versions()) < versions_before
    assert library.count() == 300


def test_optimize_if_large_indexes_past_the_threshold(library):
    library.add(rows(600))
    report = optimize_if_large(library, threshold=500)
    assert report is not None and report.vector_index == "built"
    assert library.search_plan() is not None
