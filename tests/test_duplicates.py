"""Near-duplicate groups: planted near-copies are found, by exact blocks and through the ANN index."""

import logging

import numpy as np
import pytest

from pipeline.duplicates import UnionFind, find_duplicate_groups
from store import ImageLibrary
from store.indexes import optimize

DIM = 32


def unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def make_rows(n=600, seed=0):
    """n distinct random images, then near-copies: a pair, a triple and a chain a~b~c."""
    rng = np.random.default_rng(seed)
    base = [unit(rng.normal(size=DIM)) for _ in range(n)]

    def near(v, scale=0.05):
        return unit(v + scale * rng.normal(size=DIM) / np.sqrt(DIM))

    vectors = list(base)
    planted = {
        "pair": [0, n],
        "triple": [1, n + 1, n + 2],
    }
    vectors += [near(base[0]), near(base[1]), near(base[1])]
    # chain: each step ~0.97 apart, ends further apart than the threshold
    step1 = unit(base[2] + 0.25 * unit(rng.normal(size=DIM)))
    step2 = unit(step1 + 0.25 * unit(rng.normal(size=DIM)))
    vectors += [step1, step2]
    planted["chain"] = [2, n + 3, n + 4]
    rows = [{"id": f"{i:064x}", "uri": f"/p/{i}.jpg", "width": 100 + i, "height": 100, "file_size": 10 * i,
             "vector": v} for i, v in enumerate(vectors)]
    return rows, {name: {f"{i:064x}" for i in members} for name, members in planted.items()}


@pytest.fixture
def library(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"))
    lib.ensure("test/tiny-model", DIM)
    return lib


def test_union_find_joins_chains():
    uf = UnionFind(5)
    uf.union(0, 1)
    uf.union(3, 1)
    assert uf.find(3) == uf.find(0) != uf.find(2)


def test_exact_method_finds_the_planted_groups_only(library):
    rows, planted = make_rows()
    library.add(rows)
    groups = find_duplicate_groups(library, threshold=0.95)
    assert sorted(map(frozenset, (g.ids for g in groups)), key=len) == \
        sorted(map(frozenset, planted.values()), key=len)
    assert all(g.max_similarity >= g.min_similarity >= 0.95 for g in groups)
    # the largest image of each group comes first: the one worth keeping
    for group in groups:
        areas = [r["width"] * r["height"] for r in group.rows]
        assert areas == sorted(areas, reverse=True) and group.rows[0]["uri"].endswith(".jpg")


def test_a_stricter_threshold_breaks_the_loose_chain(library):
    rows, planted = make_rows()
    library.add(rows)
    groups = {frozenset(g.ids) for g in find_duplicate_groups(library, threshold=0.99, with_rows=False)}
    assert frozenset(planted["pair"]) in groups and frozenset(planted["chain"]) not in groups


def test_indexed_method_agrees_with_exact(library):
    rows, planted = make_rows(n=1000)
    library.add(rows)
    optimize(library, index_threshold=256)
    assert library.search_plan() is not None
    exact = {frozenset(g.ids) for g in find_duplicate_groups(library, method="exact", with_rows=False)}
    indexed = {frozenset(g.ids) for g in find_duplicate_groups(library, method="index", with_rows=False, block=256)}
    assert indexed == exact == {frozenset(m) for m in planted.values()}


def test_auto_uses_the_vector_cache_on_an_indexed_table_and_the_index_without_it(library, caplog):
    rows, planted = make_rows(n=1000)
    library.add(rows)
    optimize(library, index_threshold=256)
    uncached = ImageLibrary(library.db_uri, vector_cache_mb=0)
    with caplog.at_level(logging.DEBUG, logger="pipeline.duplicates"):
        cached_groups = {frozenset(g.ids) for g in find_duplicate_groups(library, with_rows=False)}
        assert "method exact" in caplog.text
        caplog.clear()
        index_groups = {frozenset(g.ids) for g in find_duplicate_groups(uncached, with_rows=False)}
        assert "method index" in caplog.text
    assert cached_groups == index_groups == {frozenset(m) for m in planted.values()}


def test_blocks_smaller_than_the_table_give_the_same_groups(library):
    rows, _ = make_rows(n=300)
    library.add(rows)
    whole = {frozenset(g.ids) for g in find_duplicate_groups(library, block=10_000, with_rows=False)}
    blocked = {frozenset(g.ids) for g in find_duplicate_groups(library, block=7, with_rows=False)}
    assert whole == blocked and len(whole) == 3


def test_bad_parameters_are_refused(library):
    library.add(make_rows(n=10)[0])
    with pytest.raises(ValueError, match="threshold"):
        find_duplicate_groups(library, threshold=1.5)
    with pytest.raises(ValueError, match="unknown method"):
        find_duplicate_groups(library, method="magic")
