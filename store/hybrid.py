"""Search modes over one table: semantic (vectors), keyword (full-text index) and hybrid (both, fused
by reciprocal-rank fusion with LanceDB's `RRFReranker`), with provenance, paging and sorting.

Every result says which side found it (`found_by`: ["semantic"], ["keyword"] or both). Scores:
`score` is what the mode ranks by (cosine similarity, BM25, or the RRF score); `similarity` is the
cosine similarity to the query vector wherever there is one (keyword-only hits of a hybrid search
get theirs computed from their stored vector), `keyword_score` the BM25 score where the words matched.

Paging: a search retrieves one ranked list of `retrieval_depth(offset, k)` candidates per side, a
multiple of `WINDOW`, and a page is a slice of it. Fusing deeper lists can reorder the fused top
(an item gains a rank from the second list), so a fixed depth is what makes page 2 continue page 1
exactly; the depth only grows past the first WINDOW results. `--sort` reorders that same list.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pyarrow as pa

from store.errors import LibraryError
from store.schema import METADATA_COLUMNS
from store.text_search import has_text_index, keyword_query

if TYPE_CHECKING:
    from store.library import ImageLibrary

MODES = ("semantic", "keyword", "hybrid")
WINDOW = 100  # candidates per side; pages within the first WINDOW results are exact slices
RRF_K = 60  # LanceDB's (and the RRF paper's) default constant
# Sort keys and their direction; a key is offered when the table has the column (taken_at arrives
# with photo metadata). "score" is the ranking itself.
SORT_KEYS = {"score": True, "taken_at": True, "indexed_at": True, "file_name": False}


def default_mode(library: "ImageLibrary") -> str:
    """hybrid when the table has a full-text index, else semantic."""
    return "hybrid" if has_text_index(library) else "semantic"


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise LibraryError(f"unknown search mode {mode!r}: use {', '.join(MODES)}")
    return mode


def retrieval_depth(offset: int, k: int) -> int:
    """How many candidates each side retrieves so that [offset, offset + k) is a slice of one list."""
    if offset < 0:
        raise LibraryError("the offset cannot be negative")
    if k < 1:
        raise LibraryError("k must be at least 1")
    return WINDOW * max(1, math.ceil((offset + k) / WINDOW))


def sort_keys(library: "ImageLibrary") -> list[str]:
    names = set(library.table.schema.names)
    return [key for key in SORT_KEYS if key == "score" or key in names]


def check_sort(library: "ImageLibrary", key: str) -> str:
    allowed = sort_keys(library)
    if key not in allowed:
        raise LibraryError(f"cannot sort by {key!r}: this table offers {', '.join(allowed)}")
    return key


def sort_results(results: list[dict], key: str) -> list[dict]:
    """Reorder ranked results by a column; missing values go last, ties keep their rank order."""
    if key == "score":
        return results
    descending = SORT_KEYS[key]
    present = [r for r in results if r.get(key) is not None]
    missing = [r for r in results if r.get(key) is None]
    return sorted(present, key=lambda r: r[key], reverse=descending) + missing


def semantic_results(hits: Sequence[dict]) -> list[dict]:
    """Label vector hits (ImageLibrary.search output, already cut) as found by meaning."""
    return [{**hit, "similarity": hit["score"], "found_by": ["semantic"]} for hit in hits]


def keyword_results(library: "ImageLibrary", text: str, depth: int, where: str | None = None,
                    vector: np.ndarray | None = None, exclude_ids: Sequence[str] = ()) -> list[dict]:
    """Rows whose text fields contain the words, best BM25 first; with `vector`, each also gets its
    cosine `similarity` to it (read from the row's stored vector, no second search)."""
    from store.library import id_filter

    clauses = [f"({where})"] if where else []
    if exclude_ids:
        clauses.append("NOT " + id_filter(exclude_ids))
    columns = list(METADATA_COLUMNS) + (["vector"] if vector is not None else [])
    hits = keyword_query(library, text, depth, " AND ".join(clauses) or None, columns)
    similarity = None
    if vector is not None and hits.num_rows:
        stored = hits["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        similarity = stored.reshape(hits.num_rows, -1) @ np.asarray(vector, dtype=np.float32).reshape(-1)
        hits = hits.drop_columns(["vector"])
    results = []
    for i, row in enumerate(hits.to_pylist()):
        row["keyword_score"] = row.pop("_score")
        row["score"] = row["keyword_score"]
        if similarity is not None:
            row["similarity"] = float(similarity[i])
        row["found_by"] = ["keyword"]
        results.append(row)
    return results


def fuse(text: str, semantic: Sequence[dict], keyword: Sequence[dict]) -> list[dict]:
    """One list from both sides by reciprocal-rank fusion (LanceDB's RRFReranker): each side adds
    1 / (RRF_K + rank); a row found by both is labelled with both and keeps both scores."""
    from lancedb.rerankers import RRFReranker

    by_id: dict[str, dict] = {}
    for row in semantic:
        by_id[row["id"]] = {**row, "keyword_score": None}
    for row in keyword:
        if row["id"] in by_id:
            merged = by_id[row["id"]]
            merged["keyword_score"] = row["keyword_score"]
            merged["found_by"] = ["semantic", "keyword"]
        else:
            by_id[row["id"]] = {**row}
    ranked = RRFReranker(K=RRF_K).rerank_hybrid(text, _ids_table(semantic), _ids_table(keyword))
    ids = ranked["_rowid"].to_pylist()
    scores = ranked["_relevance_score"].to_pylist()
    # The reranker sorts by score only; equal scores keep a deterministic order (semantic rank first).
    order = sorted(range(len(ids)), key=lambda i: (-scores[i], i))
    return [{**by_id[ids[i]], "score": float(scores[i])} for i in order]


def _ids_table(rows: Sequence[dict]) -> pa.Table:
    # The reranker fuses on `_rowid`; our ids are unique primary keys, so they serve as row ids.
    return pa.table({"_rowid": pa.array([r["id"] for r in rows], type=pa.string())})
