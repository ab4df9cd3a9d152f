"""The vector cache: exact search as one matrix product over the table's current version, equal to
LanceDB's exact search, fresh after other writers' commits, and bounded by its memory budget."""

import logging
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import numpy as np
import pytest

import store.scans as scans
import store.search_paths as search_paths
import store.vector_cache as vector_cache
from store import ImageLibrary, InvalidFilterError
from store.indexes import optimize

DIM = 16
MODEL = "test/tiny-model"
FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "HEIF"]


def vectors(n, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rows(n, start=0, seed=0, vecs=None):
    vecs = vectors(n, seed) if vecs is None else vecs
    return [{"id": f"{start + i:064x}", "uri": f"/p/{start + i}.jpg", "file_name": f"{start + i}.jpg",
             "tags": ["rare"] if (start + i) % 50 == 0 else ["common"], "width": 100 + (start + i) % 7,
             "height": 80, "format": FORMATS[(start + i) % 5], "file_size": 1000 + start + i,
             "thumbnail": f"thumb{start + i}".encode(), "vector": vecs[i]} for i in range(n)]


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "db")
    lib = ImageLibrary(path, "images")
    lib.ensure(MODEL, DIM)
    lib.add(rows(400))
    return path


def cached(db, **kwargs):
    """A library whose cache is wanted: its first single search went to LanceDB (tested below)."""
    lib = ImageLibrary(db, "images", **kwargs)
    lib.search(vectors(1, seed=99)[0], k=1)
    return lib


def lancedb_only(db):
    return ImageLibrary(db, "images", vector_cache_mb=0)


def same_results(a, b):
    assert [r["id"] for r in a] == [r["id"] for r in b]
    np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-5)
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k != "score"} == {k: v for k, v in y.items() if k != "score"}


@pytest.mark.parametrize("where", [None, "format = 'PNG'", "array_has(tags, 'rare')", "file_size < 1100 AND width > 102"])
def test_cache_results_equal_lancedb_exact_search(db, where):
    fast, exact = cached(db), lancedb_only(db)
    for q in vectors(8, seed=3) * 3.0:  # unnormalised queries: both normalise them
        got = fast.search(q, k=12, where=where)
        assert fast.last_search_path == "cache"
        same_results(got, exact.search(q, k=12, where=where))
        assert exact.last_search_path == "lancedb-exact"


@pytest.mark.parametrize("k", [3, 300, 500])  # a sort of every score, a cut first, more than the 400 rows
def test_long_result_lists_equal_lancedb_exact_search(db, k):
    fast, exact = cached(db), lancedb_only(db)
    q = vectors(1, seed=21)[0]
    got = fast.search(q, k=k)
    assert fast.last_search_path == "cache" and len(got) == min(k, 400)
    same_results(got, exact.search(q, k=k))


def test_min_score_exclusions_thumbnails_and_vectors_match_lancedb(db):
    fast, exact = cached(db), lancedb_only(db)
    q = vectors(1, seed=5)[0]
    top = exact.search(q, k=3)
    options = dict(k=10, min_score=0.2, with_thumbnail=True, with_vector=True, exclude_ids=[top[0]["id"], top[2]["id"]])
    got = fast.search(q, **options)
    assert fast.last_search_path == "cache" and got and all(r["score"] >= 0.2 for r in got)
    assert got[0]["id"] == top[1]["id"] and got[0]["thumbnail"] == exact.get(top[1]["id"])["thumbnail"]
    same_results(got, exact.search(q, **options))


def test_a_selective_filter_still_returns_k_results(db):
    fast = cached(db)
    hits = fast.search(vectors(1, seed=9)[0], k=8, where="array_has(tags, 'rare')")
    assert len(hits) == 8 == fast.count("array_has(tags, 'rare')")
    assert fast.search(vectors(1, seed=9)[0], k=5, where="file_size < 0") == []


def test_ties_are_broken_by_id_the_same_way_every_time(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"), "images")
    lib.ensure(MODEL, DIM)
    same = np.repeat(vectors(1, seed=1), 30, axis=0)
    lib.add(rows(30, start=100, vecs=same[::-1]))  # written in reverse id order, over two commits
    lib.add(rows(30, start=0, vecs=same))
    lib.search(same[0], k=7)  # the first search goes to LanceDB; the next loads the cache
    first = lib.search(same[0], k=7)
    assert lib.last_search_path == "cache"
    assert [r["id"] for r in first] == sorted(r["id"] for r in first) == [f"{i:064x}" for i in range(7)]
    optimize(lib)  # compaction rewrites the fragments: same answer
    assert [r["id"] for r in lib.search(same[0], k=7)] == [r["id"] for r in first]


def test_changing_a_result_leaves_the_cache_as_it_was(db):
    """Results are the caller's: editing one (its tags list too) changes no later search's rows."""
    lib = cached(db)
    query = vectors(1, seed=5)[0]
    first = lib.search(query, k=3)
    assert lib.last_search_path == "cache"
    before = [dict(r, tags=list(r["tags"])) for r in first]
    for r in first:
        r["tags"].append("edited by the caller")
        r["uri"] = "changed"
    assert lib.search(query, k=3) == before


def test_search_many_answers_each_query_like_search(db):
    fast = cached(db)
    queries = vectors(5, seed=11)
    batch = fast.search_many(queries, k=6, where="format != 'GIF'")
    assert len(batch) == 5
    for q, got in zip(queries, batch):
        same_results(got, lancedb_only(db).search(q, k=6, where="format != 'GIF'"))
    assert fast.search_many(np.zeros((0, DIM), np.float32), k=3) == []


def test_a_write_by_another_process_is_visible_to_the_next_search(db):
    reader = cached(db, read_consistency_interval=timedelta(0))
    target = vectors(1, seed=42)[0]
    assert reader.search(target, k=1)[0]["id"] != f"{9999:064x}"
    assert reader.last_search_path == "cache"
    script = textwrap.dedent(f"""
        import numpy as np
        from store import ImageLibrary
        from tests.test_vector_cache import rows
        vector = np.asarray({target.tolist()!r}, dtype=np.float32)
        ImageLibrary({db!r}, "images").add(rows(1, start=9999, vecs=vector[None, :]))
        ImageLibrary({db!r}, "images").delete(ids=[f"{{0:064x}}"])
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    hit = reader.search(target, k=1)[0]
    assert hit["id"] == f"{9999:064x}" and hit["score"] == pytest.approx(1.0, abs=1e-5)
    assert reader.last_search_path == "cache"
    assert reader.vector_cache.current().rows == 400  # one added, one deleted
    assert f"{0:064x}" not in {r["id"] for r in reader.search(vectors(1, seed=0)[0], k=400)}


def test_a_new_version_rereads_only_the_fragments_that_changed(db):
    lib = cached(db)
    lib.search(vectors(1)[0], k=1)
    assert lib.vector_cache.last_reread == 400
    lib.add(rows(10, start=1000, seed=2))
    lib.search(vectors(1)[0], k=1)
    assert lib.vector_cache.last_reread == 10 and lib.vector_cache.current().rows == 410
    lib.delete(ids=[f"{1003:064x}"])
    lib.search(vectors(1)[0], k=1)
    assert lib.vector_cache.last_reread == 9  # only the fragment with the deletion is read again
    assert lib.vector_cache.current().rows == 409


def test_over_the_budget_search_goes_to_lancedb_as_before(db):
    small = cached(db, vector_cache_mb=0.1)  # 400 x 16 floats plus metadata do not fit in 100 KB
    q = vectors(1, seed=4)[0]
    got = small.search(q, k=5, where="format = 'JPEG'")
    assert small.last_search_path == "lancedb-exact"
    same_results(got, lancedb_only(db).search(q, k=5, where="format = 'JPEG'"))
    stats = small.stats()
    assert stats["search_path"] == "lancedb-exact" and stats["vector_cache_bytes"] == 0
    assert lancedb_only(db).stats()["vector_cache"]["state"] == "off"


WIDE = 2048  # 100 rows of this width: ~800 KB of vectors, ~170 KB of metadata


@pytest.fixture
def wide_db(tmp_path):
    path = str(tmp_path / "wide")
    lib = ImageLibrary(path, "images")
    lib.ensure(MODEL, WIDE)
    wide = np.random.default_rng(0).normal(size=(100, WIDE)).astype(np.float32)
    lib.add(rows(100, vecs=wide / np.linalg.norm(wide, axis=1, keepdims=True)))
    return path


def columns_asked(lib):
    """The columns each LanceDB vector query of `lib` selects, as a list that grows."""
    asked, real = [], lib._vector_query

    def recording(query, k, predicate, columns, plan, with_row_id=False):
        asked.append(list(columns))
        return real(query, k, predicate, columns, plan, with_row_id)
    lib._vector_query = recording
    return asked


def test_when_only_the_metadata_fits_lancedb_gives_ids_and_scores_and_rows_come_from_memory(wide_db, caplog):
    lib, exact = ImageLibrary(wide_db, "images", vector_cache_mb=0.5), lancedb_only(wide_db)
    q = np.random.default_rng(5).normal(size=WIDE).astype(np.float32)
    same_results(lib.search(q, k=5), exact.search(q, k=5))  # the first search: nothing loaded
    assert lib.vector_cache.state()["state"] == "not loaded"
    asked = columns_asked(lib)
    with caplog.at_level(logging.DEBUG, logger="store.search_paths"):
        for where in (None, "format = 'PNG'"):
            options = dict(k=7, where=where, min_score=-0.05, with_thumbnail=True, with_vector=True,
                           exclude_ids=[f"{5:064x}"])
            got = lib.search(q, **options)
            assert got and lib.last_search_path == "lancedb-exact"
            same_results(got, exact.search(q, **options))
    assert asked == [[], []]  # LanceDB was asked for no column but the score and the row id
    assert "exceed the vector cache budget, rows from memory" in caplog.text
    state = lib.vector_cache.state()
    assert state["state"] == "loaded (metadata only)" and state["scan"] is None
    assert 0 < state["bytes"] < 0.5 * 2**20 < state["needed_bytes"]
    lib.add(rows(1, start=500, vecs=(q / np.linalg.norm(q))[None, :]))  # a new version: just its fragment is read
    assert lib.search(q, k=1)[0]["id"] == f"{500:064x}"
    assert lib.vector_cache.last_reread == 1 and lib.vector_cache.current().rows == 101


def test_rows_missing_from_the_metadata_snapshot_are_asked_of_lancedb(wide_db, monkeypatch):
    from store.vector_cache import Snapshot

    lib, exact = ImageLibrary(wide_db, "images", vector_cache_mb=0.5), lancedb_only(wide_db)
    q = np.random.default_rng(6).normal(size=WIDE).astype(np.float32)
    lib.search(q, k=3)
    lib.search(q, k=3)  # loads the metadata
    misses = []
    real = Snapshot.positions_of

    def once_missing(self, row_ids):  # as if a commit landed between reading the version and the query
        if not misses:
            misses.append(len(row_ids))
            return None
        return real(self, row_ids)
    monkeypatch.setattr(Snapshot, "positions_of", once_missing)
    asked = columns_asked(lib)
    same_results(lib.search(q, k=6, with_thumbnail=True), exact.search(q, k=6, with_thumbnail=True))
    assert misses == [6] and asked[0] == [] and "thumbnail" in asked[1] and len(asked) == 2


def test_a_one_off_search_goes_to_lancedb_and_the_next_loads_the_cache(db, caplog):
    lib = ImageLibrary(db, "images")
    assert lib.stats()["vector_cache"]["state"] == "not loaded"
    with caplog.at_level(logging.DEBUG, logger="store.search_paths"):
        first = lib.search(vectors(1)[0], k=3, where="format = 'PNG'")
        assert lib.last_search_path == "lancedb-exact" and "the vector cache loads on the next one" in caplog.text
        same_results(lib.search(vectors(1)[0], k=3, where="format = 'PNG'"), first)
    assert "path cache (80 of 400 rows, float32 scan)" in caplog.text
    batch = ImageLibrary(db, "images")
    batch.search_many(vectors(2), k=3)  # a batch loads the cache at once
    assert batch.last_search_path == "cache"


def test_stats_and_debug_logs_name_the_path(db, caplog):
    lib = cached(db)
    with caplog.at_level(logging.DEBUG, logger="store.search_paths"):
        lib.search(vectors(1)[0], k=3, where="format = 'PNG'")
    assert "path cache (80 of 400 rows, float32 scan)" in caplog.text
    stats = lib.stats()
    assert stats["search_path"] == "cache" and stats["last_search_path"] == "cache"
    assert stats["vector_cache"]["state"] == "loaded" and stats["vector_cache_bytes"] >= 400 * DIM * 4


def test_a_kept_route_gives_way_once_the_int8_codes_are_ready(db, monkeypatch, caplog):
    monkeypatch.setattr(scans, "INT8_MIN_ROWS", 100)  # the 400 rows get int8 codes, built in the background
    release = threading.Event()
    build = vector_cache.Snapshot._build_int8

    def held_build(snapshot):  # the codes are not ready until the test says so
        release.wait()
        build(snapshot)
    monkeypatch.setattr(vector_cache.Snapshot, "_build_int8", held_build)
    lib = cached(db)
    q = vectors(1, seed=3)[0]
    with caplog.at_level(logging.DEBUG, logger="store.search_paths"):
        first = [lib.search(q, k=5) for _ in range(2)]  # float32 scan: the second reuses the kept route
        release.set()
        assert lib.vector_cache.current().wait_for_scan().kind == "int8+float32"
        later = lib.search(q, k=5)
    paths = [r.getMessage() for r in caplog.records if "path cache" in r.getMessage()]
    assert len(paths) == 3 and all("400 rows, float32 scan" in m for m in paths[:2])
    assert "400 rows, int8+float32 scan" in paths[2]
    same_results(later, first[0])


def test_an_invalid_filter_is_a_one_line_error_on_the_cache_path(db):
    with pytest.raises(InvalidFilterError, match="invalid filter") as error:
        cached(db).search(vectors(1)[0], k=3, where="no_such_column = 1")
    assert "\n" not in str(error.value)


def test_with_an_index_large_tables_go_to_the_index_unless_a_batch_or_filter_is_cheaper(db, monkeypatch):
    lib = cached(db)
    lib.add(rows(800, start=5000, seed=8))
    optimize(lib, index_threshold=500)
    assert lib.search_plan() is not None
    # As if the table were large: a product over 1,200 rows "costs" more than an IVF query (int8 or not).
    monkeypatch.setattr(search_paths, "IVF_SECONDS_PER_QUERY", 1200 * DIM * search_paths.STREAM_SECONDS_PER_INT8)
    lib.search(vectors(1)[0], k=5)
    assert lib.last_search_path == "lancedb-ivf" and lib.stats()["search_path"] == "lancedb-ivf"
    lib.search(vectors(1)[0], k=5, where="array_has(tags, 'rare')")  # 24 rows: the product wins
    assert lib.last_search_path == "cache"
    lib.vector_cache.current().wait_for_scan()  # the int8 codes (built in the background) price the batch
    lib.search_many(vectors(64, seed=1), k=5)  # one product for 64 queries beats 64 IVF queries
    assert lib.last_search_path == "cache"


def test_own_writes_are_seen_at_once_even_with_a_long_consistency_interval(db):
    lib = cached(db, read_consistency_interval=timedelta(hours=1))
    target = vectors(1, seed=77)[0]
    lib.search(target, k=1)
    versions_read = []
    real_open = lib._open

    def counting_open(*args, **kwargs):
        versions_read.append(1)
        return real_open(*args, **kwargs)
    lib._open = counting_open
    for _ in range(3):  # back to back: the version is not asked for again
        lib.search(target, k=1)
    assert versions_read == []
    lib._open = real_open
    lib.add(rows(1, start=7777, vecs=target[None, :]))
    assert lib.search(target, k=1)[0]["id"] == f"{7777:064x}"
    lib.delete(ids=[f"{7777:064x}"])
    assert lib.search(target, k=1)[0]["id"] != f"{7777:064x}"


def test_a_valid_filter_is_checked_in_lancedb_once_per_table_version(db, monkeypatch):
    from lancedb.table import LanceTable

    lib = cached(db)
    checks = []
    real_search = LanceTable.search

    def counting_search(self, query=None, *args, **kwargs):
        if query is None:  # validate_filter's probe; vector searches pass a query
            checks.append(1)
        return real_search(self, query, *args, **kwargs)
    monkeypatch.setattr(LanceTable, "search", counting_search)
    for _ in range(3):
        lib.search(vectors(1)[0], k=3, where="format = 'PNG'")
    assert len(checks) == 1
    with pytest.raises(InvalidFilterError):  # an invalid one is still refused, every time
        lib.search(vectors(1)[0], k=3, where="no_such_column = 1")
    with pytest.raises(InvalidFilterError):
        lib.search(vectors(1)[0], k=3, where="no_such_column = 1")
    lib.add(rows(5, start=9000, seed=3))  # a new version: checked again, once
    for _ in range(2):
        assert len(lib.search(vectors(1)[0], k=3, where="format = 'PNG'")) == 3
    assert len(checks) == 4
