"""ImageLibrary over a real LanceDB table in tmp_path, with hand-made vectors."""

import json

import numpy as np
import pytest

from store import (
    ImageLibrary, InvalidFilterError, InvalidRowsError, LibraryError, ModelMismatchError,
    TableNotFoundError,
)

DIM = 8
MODEL = "test/tiny-model"


def unit(seed_or_values):
    v = np.asarray(seed_or_values, dtype=np.float32) if not isinstance(seed_or_values, int) \
        else np.random.default_rng(seed_or_values).normal(size=DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def row(i, **overrides):
    base = {
        "id": f"{i:064x}", "uri": f"/photos/img{i}.jpg", "file_name": f"img{i}.jpg",
        "description": f"picture {i}", "tags": ["even" if i % 2 == 0 else "odd"],
        "width": 640, "height": 480, "format": "JPEG" if i % 3 else "PNG",
        "file_size": 1000 + i, "thumbnail": b"\xff\xd8thumb", "vector": unit(i),
    }
    base.update(overrides)
    return base


@pytest.fixture
def library(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"), "images")
    lib.ensure(MODEL, DIM)
    return lib


def test_missing_table_is_a_clear_error(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"))
    assert not lib.exists()
    with pytest.raises(TableNotFoundError, match="index some images first"):
        lib.count()


def test_adding_rows_twice_inserts_them_once(library):
    first = library.add([row(i) for i in range(5)])
    second = library.add([row(i) for i in range(7)])
    assert (first.inserted, first.skipped) == (5, 0)
    assert (second.inserted, second.skipped) == (2, 5)
    assert library.count() == 7


def test_duplicate_ids_within_one_batch_are_stored_once(library):
    result = library.add([row(1), row(1, uri="/elsewhere/copy.jpg")])
    assert (result.inserted, result.skipped) == (1, 1)
    assert library.get(row(1)["id"])["uri"] == "/photos/img1.jpg"


def test_one_add_is_one_table_version(library):
    before = library.table.version
    library.add([row(i) for i in range(50)])
    assert library.table.version == before + 1


def test_stored_vectors_are_l2_normalised(library):
    library.add([row(1, vector=np.full(DIM, 3.0))])
    stored = np.asarray(library.get(row(1)["id"], with_vector=True)["vector"])
    assert np.linalg.norm(stored) == pytest.approx(1.0, abs=1e-6)


def test_get_returns_metadata_and_thumbnail(library):
    library.add([row(3, tags=["cat", "pet"], attributes={"seed": 7})])
    got = library.get(row(3)["id"])
    assert got["file_name"] == "img3.jpg" and got["tags"] == ["cat", "pet"]
    assert got["thumbnail"] == b"\xff\xd8thumb"
    assert json.loads(got["attributes"]) == {"seed": 7}
    assert got["indexed_at"] is not None
    assert library.get("0" * 64) is None


def test_wrong_vector_size_is_rejected(library):
    with pytest.raises(InvalidRowsError, match="expects 8"):
        library.add([row(1, vector=np.ones(3))])


def test_nan_vectors_are_rejected(library):
    with pytest.raises(InvalidRowsError, match="NaN"):
        library.add([row(1, vector=np.full(DIM, np.nan))])


def test_search_ranks_the_identical_vector_first_with_cosine_score(library):
    library.add([row(i) for i in range(20)])
    hits = library.search(unit(7), k=5)
    assert len(hits) == 5
    assert hits[0]["id"] == row(7)["id"]
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert "vector" not in hits[0] and "thumbnail" not in hits[0]


def test_filtered_search_returns_k_matching_rows(library):
    library.add([row(i) for i in range(40)])
    hits = library.search(unit(7), k=10, where="array_has(tags, 'even')")
    assert len(hits) == 10
    assert all("even" in h["tags"] for h in hits)
    assert row(7)["id"] not in {h["id"] for h in hits}


def test_min_score_drops_distant_results(library):
    library.add([row(1, vector=unit([1, 0, 0, 0, 0, 0, 0, 0])), row(2, vector=unit([0, 1, 0, 0, 0, 0, 0, 0]))])
    hits = library.search(unit([1, 0, 0, 0, 0, 0, 0, 0]), k=5, min_score=0.5)
    assert [h["id"] for h in hits] == [row(1)["id"]]


def test_search_can_exclude_ids(library):
    library.add([row(i) for i in range(5)])
    hits = library.search(unit(2), k=5, exclude_ids=[row(2)["id"]])
    assert row(2)["id"] not in {h["id"] for h in hits} and len(hits) == 4


def test_invalid_filter_is_a_one_line_error(library):
    library.add([row(1)])
    with pytest.raises(InvalidFilterError) as caught:
        library.search(unit(1), where="format ==== 'PNG'")
    assert "\n" not in str(caught.value)
    with pytest.raises(InvalidFilterError):
        library.count(where="1=1; DROP TABLE images")


def test_query_vector_of_wrong_size_is_rejected(library):
    library.add([row(1)])
    with pytest.raises(LibraryError, match="expects 8"):
        library.search(np.ones(4))


def test_delete_by_ids_and_by_filter_report_counts(library):
    library.add([row(i) for i in range(10)])
    assert library.delete(ids=[row(0)["id"], row(1)["id"], "f" * 64]) == 2
    assert library.delete(where="format = 'PNG'") == 3  # 3, 6, 9
    assert library.count() == 5
    with pytest.raises(LibraryError):
        library.delete()


def test_clear_then_restore_undoes_the_clear(library):
    library.add([row(i) for i in range(6)])
    version_with_rows = library.table.version
    assert library.clear() == 6
    assert library.count() == 0
    library.restore(version_with_rows)
    assert library.count() == 6
    versions = library.versions()
    assert versions[-1]["rows"] == 6 and any(v["rows"] == 0 for v in versions)


def test_restoring_an_unknown_version_is_an_error(library):
    with pytest.raises(LibraryError, match="does not exist"):
        library.restore(999)


def test_model_mismatch_names_both_models(library):
    with pytest.raises(ModelMismatchError) as caught:
        library.ensure("other/model", DIM)
    assert "test/tiny-model" in str(caught.value) and "other/model" in str(caught.value)
    with pytest.raises(ModelMismatchError):
        library.ensure(MODEL, DIM * 2)


def test_model_and_dim_survive_reopening(library, tmp_path):
    library.add([row(1)])
    reopened = ImageLibrary(str(tmp_path / "db"), "images")
    assert reopened.model_info() == (MODEL, DIM)


def test_pages_are_sorted_and_disjoint(library):
    library.add([row(i, file_size=100 - i) for i in range(25)])
    pages = [library.page(offset=o, limit=10, order_by="file_size", descending=False) for o in (0, 10, 20)]
    sizes = [r["file_size"] for p in pages for r in p]
    assert sizes == sorted(sizes) and len(sizes) == 25
    assert len({r["id"] for p in pages for r in p}) == 25
    with pytest.raises(LibraryError, match="cannot sort"):
        library.page(order_by="vector")


def test_stats_count_bytes_formats_and_versions(library):
    library.add([row(i) for i in range(6)])
    stats = library.stats()
    assert stats["rows"] == 6
    assert stats["total_bytes"] == sum(1000 + i for i in range(6))
    assert stats["formats"] == {"JPEG": 4, "PNG": 2}
    assert stats["model"] == MODEL and stats["dim"] == DIM
    assert stats["versions"] >= 2 and stats["disk_bytes"] > 0


def test_query_selects_filters_and_limits(library):
    library.add([row(i) for i in range(10)])
    result = library.query(where="file_size >= 1005", select=["id", "file_size"], limit=3)
    assert result.column_names == ["id", "file_size"] and result.num_rows == 3
    assert all(s >= 1005 for s in result["file_size"].to_pylist())
    with pytest.raises(LibraryError, match="unknown column"):
        library.query(select=["nope"])


def test_fingerprints_map_uri_to_size_and_id(library):
    library.add([row(1, mtime=1_700_000_000)])
    size, mtime, row_id = library.fingerprints()["/photos/img1.jpg"]
    assert size == 1001 and row_id == row(1)["id"] and mtime.timestamp() == 1_700_000_000


def test_a_second_handle_sees_commits_from_another_writer(library, tmp_path):
    from datetime import timedelta
    reader = ImageLibrary(str(tmp_path / "db"), "images", read_consistency_interval=timedelta(0))
    assert reader.count() == 0
    library.add([row(1)])
    assert reader.count() == 1


def test_a_read_only_library_refuses_every_write(library, tmp_path):
    from store import ReadOnlyError
    library.add([row(1), row(2)])
    version = library.table.version
    reader = ImageLibrary(str(tmp_path / "db"), "images", read_only=True)
    for write in (lambda: reader.add([row(3)]), lambda: reader.delete(ids=[row(1)["id"]]),
                  reader.clear, lambda: reader.restore(version), lambda: reader.ensure(MODEL, DIM)):
        with pytest.raises(ReadOnlyError, match="read-only"):
            write()
    assert reader.count() == 2 and len(reader.search(unit(1), k=2)) == 2
    assert library.table.version == version


def test_undelete_brings_back_only_the_deleted_rows_and_keeps_later_writes(library):
    library.add([row(i) for i in range(6)])
    before = library.table.version
    assert library.delete(where="format = 'PNG'") == 2  # rows 0 and 3
    library.add([row(10)])  # another user's upload after the delete
    assert library.undelete(before, where="format = 'PNG'") == 2
    assert library.count() == 7
    assert library.get(row(10)["id"]) is not None and library.get(row(3)["id"])["file_name"] == "img3.jpg"
    assert library.undelete(before, where="format = 'PNG'") == 0  # nothing missing any more
    library.delete(ids=[row(1)["id"]])
    assert library.undelete(before, ids=[row(1)["id"]]) == 1 and library.count() == 7


def test_a_read_only_library_refuses_optimize_index_builds_and_version_cleanup(library, tmp_path):
    from datetime import timedelta

    from store import ReadOnlyError
    from store.indexes import build_scalar_indexes, build_vector_index, optimize, optimize_if_large, plan_vector_index
    library.add([row(i) for i in range(4)])
    library.delete(ids=[row(0)["id"]])
    versions = len(library.table.list_versions())
    reader = ImageLibrary(str(tmp_path / "db"), "images", read_only=True)
    for write in (lambda: optimize(reader, retention=timedelta(0)), lambda: optimize_if_large(reader, threshold=1),
                  lambda: build_scalar_indexes(reader), lambda: build_vector_index(reader, plan_vector_index(300, DIM)),
                  lambda: reader.undelete(2, ids=[row(0)["id"]])):
        with pytest.raises(ReadOnlyError, match="read-only"):
            write()
    assert len(library.table.list_versions()) == versions and library.table.list_indices() == []
    assert library.count() == 3


def test_undo_of_a_delete_by_a_random_filter_brings_back_exactly_the_deleted_rows(library):
    library.add([row(i) for i in range(40)])
    before = library.table.version
    gone = library.delete_returning_ids(where="random() < 0.5")
    assert 0 < len(gone) < 40 and library.count() == 40 - len(gone)
    assert library.existing_ids(gone) == set()
    assert library.undelete(before, ids=gone) == len(gone)
    assert library.count() == 40
    assert library.undelete(before, ids=[]) == 0  # nothing deleted: nothing to bring back


@pytest.mark.parametrize("vector, reason", [(np.full(DIM, np.nan), "NaN"), (np.zeros(DIM), "all zeros")])
def test_a_nan_or_zero_query_vector_is_refused_with_a_reason(library, vector, reason):
    library.add([row(1)])
    with pytest.raises(LibraryError, match=reason):
        library.search(vector, k=3)


@pytest.mark.parametrize("scale", [1e25, 1e-30])
def test_a_query_whose_squares_overflow_or_underflow_float32_finds_what_its_direction_finds(library, scale):
    library.add([row(i) for i in range(20)])
    query = unit(7)
    wanted = [(r["id"], round(r["score"], 5)) for r in library.search(query, k=5)]
    assert [(r["id"], round(r["score"], 5)) for r in library.search(query * np.float32(scale), k=5)] == wanted


def test_an_absurd_k_or_row_limit_is_a_one_line_error(library):
    library.add([row(1)])
    with pytest.raises(LibraryError, match="k must be between 1 and"):
        library.search(unit(1), k=99999999999999999999)
    with pytest.raises(LibraryError, match="row limit"):
        library.query(limit=99999999999999999999)


def test_a_far_future_or_impossible_mtime_is_stored_as_null_and_the_row_kept(library):
    result = library.add([row(1, mtime=253402300800.0 * 2), row(2, mtime=float("nan")), row(3, mtime=100.0)])
    assert result.inserted == 3
    mtimes = {r["id"]: r["mtime"] for r in library.query(select=["id", "mtime"]).to_pylist()}
    assert mtimes[row(1)["id"]] is None and mtimes[row(2)["id"]] is None
    assert mtimes[row(3)["id"]].timestamp() == 100.0


def test_a_truncated_data_file_is_named_as_corrupt_with_the_last_good_version(library, tmp_path):
    import os

    from store import CorruptTableError
    from store.sql import run_sql
    library.add([row(i) for i in range(3)])
    good = library.table.version
    library.add([row(i) for i in range(3, 6)])
    data = tmp_path / "db" / "images.lance" / "data"
    newest = max(data.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    os.truncate(newest, newest.stat().st_size // 2)
    damaged = ImageLibrary(str(tmp_path / "db"), "images")
    for read in (lambda: damaged.search(unit(1), k=3), lambda: damaged.query(), lambda: damaged.stats(),
                 lambda: damaged.delete(where="width > 0"), lambda: damaged.count("width > 0"),
                 lambda: run_sql(damaged, "SELECT * FROM images")):
        with pytest.raises(CorruptTableError) as caught:
            read()
        message = str(caught.value)
        assert "\n" not in message and "is corrupt" in message and str(tmp_path / "db" / "images.lance") in message
        assert f"the last good version is {good}" in message
    damaged.restore(good)
    assert damaged.count() == 3 and len(damaged.search(unit(1), k=3)) == 3
