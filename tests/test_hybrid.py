"""Keyword and hybrid search on a real LanceDB table with hand-made vectors: a few images carry words
(descriptions, tags, names) that their pixels, i.e. their vectors, do not show."""

import numpy as np
import pytest

from pipeline.searching import SearchRequest, search
from store import ImageLibrary, LibraryError, optimize, optimize_if_large
from store.hybrid import WINDOW, default_mode
from store.text_search import TEXT_FIELDS, has_text_index, indexed_text_fields, refresh_text_indexes

DIM = 8
MODEL = "test/tiny-model"
BEACH, FOREST = 0, 1  # the two "things pictures show": axes of the vector space


def vector(axis, wobble):
    v = np.full(DIM, 0.02, dtype=np.float32)
    v[axis] = 1.0
    v[2 + wobble % 6] += 0.05 * (1 + wobble // 6)  # distinct, deterministic, still near the axis
    return v / np.linalg.norm(v)


def row(i, axis, **overrides):
    base = {"id": f"{i:064x}", "uri": f"/photos/IMG_{i:04d}.jpg", "file_name": f"IMG_{i:04d}.jpg",
            "description": "", "tags": [], "width": 640, "height": 480,
            "format": "PNG" if i % 2 else "JPEG", "file_size": 1000 + i, "vector": vector(axis, i)}
    base.update(overrides)
    return base


# Rows 0-7 look like beaches, 8-15 like forests. Three forest pictures carry words about Lisbon.
LISBON = {10: {"description": "Grandmother's birthday in Lisbon"},
          12: {"tags": ["lisbon", "holiday"]},
          14: {"file_name": "lisbon_trip.png", "format": "PNG"}}


@pytest.fixture
def library(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"), "images")
    lib.ensure(MODEL, DIM)
    lib.add([row(i, BEACH if i < 8 else FOREST, **LISBON.get(i, {})) for i in range(16)])
    refresh_text_indexes(lib)
    return lib


def ids(results):
    return [int(r["id"], 16) for r in results]


def run(library, mode=None, text="lisbon", axis=BEACH, **options):
    query = np.eye(DIM, dtype=np.float32)[axis]
    return search(library, None, SearchRequest(vector=query, text=text, mode=mode, **options))


def test_every_text_field_gets_its_own_full_text_index(library):
    assert indexed_text_fields(library.table) == list(TEXT_FIELDS)
    assert has_text_index(library) and default_mode(library) == "hybrid"


def test_keyword_search_finds_a_word_the_pixels_do_not_show(library):
    page = run(library, "keyword")
    assert sorted(ids(page.results)) == [10, 12, 14]  # description, tag and file name
    assert all(r["found_by"] == ["keyword"] and r["keyword_score"] > 0 for r in page.results)


def test_keyword_search_matches_word_forms_and_ignores_case(library):
    assert ids(run(library, "keyword", text="BIRTHDAYS").results) == [10]


def test_semantic_search_finds_by_meaning_without_the_word(library):
    page = run(library, "semantic", k=5)
    assert set(ids(page.results)) <= set(range(8))  # the beach pictures, none of which says "beach"
    assert all(r["found_by"] == ["semantic"] for r in page.results)


def test_hybrid_returns_both_kinds_each_labelled(library):
    page = run(library, "hybrid", k=20)  # beach pictures by meaning, Lisbon (forest) pictures by word
    found = {i: r["found_by"] for i, r in zip(ids(page.results), page.results)}
    assert set(found) == set(range(8)) | {10, 12, 14}
    assert all(found[i] == ["semantic"] for i in range(8))
    assert all(found[i] == ["keyword"] for i in (10, 12, 14))
    assert all(isinstance(r["similarity"], float) for r in page.results)  # keyword-only hits too


def test_a_picture_found_by_both_sides_ranks_first(library):
    page = run(library, "hybrid", axis=FOREST, k=20)
    assert set(ids(page.results[:3])) == {10, 12, 14}
    assert all(r["found_by"] == ["semantic", "keyword"] for r in page.results[:3])
    assert all(r["found_by"] == ["semantic"] for r in page.results[3:])


def test_hybrid_is_the_default_only_with_a_full_text_index(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"), "images")
    lib.ensure(MODEL, DIM)
    lib.add([row(i, BEACH) for i in range(4)])
    assert default_mode(lib) == "semantic"
    assert run(lib).mode == "semantic"


def test_filters_cut_both_sides(library):
    page = run(library, "hybrid", k=20, where="format = 'JPEG'", cutoff=False)
    assert page.results and all(r["format"] == "JPEG" for r in page.results)
    assert 12 in ids(page.results) and 14 not in ids(page.results)  # the PNG Lisbon picture is gone
    assert ids(run(library, "keyword", where="array_has(tags, 'holiday')").results) == [12]


def test_pages_continue_one_ranked_list_without_overlap(library):
    whole = ids(run(library, "hybrid", k=12, cutoff=False).results)
    pages = [ids(run(library, "hybrid", k=4, offset=o, cutoff=False).results) for o in (0, 4, 8)]
    assert sum(pages, []) == whole
    assert len(set(sum(pages, []))) == 12


def test_has_more_says_whether_another_page_exists(library):
    assert run(library, "keyword", k=2).has_more
    assert not run(library, "keyword", k=2, offset=2).has_more


def test_sort_reorders_the_retrieved_results(library):
    page = run(library, "keyword", sort="file_name")
    assert [r["file_name"] for r in page.results] == sorted(r["file_name"] for r in page.results)
    with pytest.raises(LibraryError, match="cannot sort by 'colour'"):
        run(library, "keyword", sort="colour")  # the table has no such column


def test_a_row_added_after_the_index_is_found_by_keyword(library):
    library.add([row(40, BEACH, description="a zebra crossing")])
    assert ids(run(library, "keyword", text="zebra").results) == [40]  # flat search of new rows
    refresh_text_indexes(library)
    stats = library.table.index_stats("description_fts")
    assert stats.num_unindexed_rows == 0
    assert ids(run(library, "keyword", text="zebra").results) == [40]


def test_optimize_and_bulk_jobs_build_the_full_text_indexes(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"), "images")
    lib.ensure(MODEL, DIM)
    lib.add([row(i, BEACH) for i in range(4)])
    assert optimize_if_large(lib) is None  # small table: no vector index, but words are indexed
    assert indexed_text_fields(lib.table) == list(TEXT_FIELDS)
    lib.table.drop_index("tags_fts")
    assert optimize(lib).text_indexes == ["tags"]


def test_the_relevance_cutoff_drops_the_far_tail_and_can_be_switched_off(library):
    # A beach query: the beach pictures are within a hair of the best hit, forests ~0.9 below.
    kept = run(library, "semantic", k=16)
    assert sorted(ids(kept.results)) == list(range(8)) and kept.cut == 8
    assert len(run(library, "semantic", k=16, cutoff=False).results) == 16


def test_keyword_hits_survive_the_cutoff_in_hybrid_search(library):
    found = ids(run(library, "hybrid", k=16).results)
    assert set(found) == set(range(8)) | {10, 12, 14}


def test_bad_requests_are_one_line_errors(library):
    with pytest.raises(LibraryError, match="needs words"):
        run(library, "keyword", text="  ")
    with pytest.raises(LibraryError, match="unknown search mode"):
        run(library, "fuzzy")
    with pytest.raises(LibraryError, match="offset cannot be negative"):
        run(library, "keyword", offset=-1)


@pytest.mark.parametrize("text, expected", [("') OR 1=1 --", []), ('lisbon" AND (', [10, 12, 14]),
                                            ("*", []), ("lisbon:NOT", [10, 12, 14])])
def test_query_syntax_in_typed_words_is_only_words(library, text, expected):
    assert sorted(ids(run(library, "keyword", text=text).results)) == expected


def test_deep_pages_still_slice_one_list(library):
    rows = [row(100 + i, FOREST, description="lisbon") for i in range(WINDOW + 10)]
    library.add(rows)
    first = ids(run(library, "keyword", k=WINDOW + 10).results)
    tail = ids(run(library, "keyword", k=10, offset=WINDOW).results)
    assert tail == first[WINDOW:WINDOW + 10]
