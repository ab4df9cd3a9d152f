"""One search path for the CLI, the dashboard and Python: a `SearchRequest` in, a `SearchPage` out.

It encodes the queries (text vectors through the per-model LRU cache, all texts of a batch in one
call), runs the semantic side, applies `--min-score` and the relevance cutoff to it, runs the keyword
side, fuses (store/hybrid.py), sorts, and cuts the requested page out of one ranked list.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from pipeline.compose import QueryTerm, compose_query
from pipeline.errors import BadInputError
from pipeline.query_cache import CachedTextEncoder
from pipeline.relevance import relevance_cutoff
from store import LibraryError
from store.hybrid import (
    MODES, check_mode, check_sort, default_mode, fuse, keyword_results, retrieval_depth, semantic_results,
    sort_results,
)

SEARCH_MODES = MODES

if TYPE_CHECKING:
    import numpy as np

    from store import ImageLibrary

log = logging.getLogger(__name__)
KEYWORD_THREADS = 4


@dataclass
class SearchRequest:
    terms: Sequence[QueryTerm] = ()  # the vector side: weighted text, image and "more like this" terms
    text: str | None = None  # the keyword side; default: the positive text terms, joined
    mode: str | None = None  # semantic, keyword, hybrid; None: hybrid when the table has a text index
    k: int = 10
    offset: int = 0
    where: str | None = None
    min_score: float | None = None  # cosine floor on the semantic side
    cutoff: bool = True  # the model-aware relevance cutoff (text-only queries)
    sort: str = "score"
    with_thumbnail: bool = False
    exclude_ids: Sequence[str] = ()
    vector: "np.ndarray | None" = None  # a ready query vector (treated as a text query's) instead of terms

    def words(self) -> str:
        if self.text is not None:
            return self.text.strip()
        return " ".join(str(t.value) for t in self.terms if t.kind == "text" and t.weight > 0).strip()

    def has_vector(self) -> bool:
        return self.vector is not None or bool(self.terms)

    def text_only(self) -> bool:
        """Text-image cosines (where the relevance cutoff is calibrated), not image-image ones."""
        if self.vector is not None:
            return True
        return bool(self.terms) and all(t.kind == "text" for t in self.terms)


@dataclass
class SearchPage:
    mode: str
    results: list[dict]
    offset: int
    k: int
    candidates: int  # length of the ranked list this page is a slice of
    cut: int = 0  # semantic hits the relevance cutoff removed
    took_ms: float = 0.0
    terms: list = field(default_factory=list)

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.results) < self.candidates

    def to_dict(self) -> dict:
        return {"mode": self.mode, "offset": self.offset, "k": self.k, "candidates": self.candidates,
                "has_more": self.has_more, "cut_by_relevance": self.cut, "took_ms": round(self.took_ms, 2),
                "results": self.results}


def choose_mode(library: "ImageLibrary", request: SearchRequest) -> str:
    """The asked mode, checked against what the query has; without one, the table's default
    (a query without words, such as an image, is semantic)."""
    has_words, has_vector = bool(request.words()), request.has_vector()
    if request.mode is None:
        mode = default_mode(library)
        if mode == "hybrid" and not (has_words and has_vector):
            mode = "semantic" if has_vector else "keyword"
        return mode
    mode = check_mode(request.mode)
    if mode in ("keyword", "hybrid") and not has_words:
        raise LibraryError(f"{mode} search needs words to look for (a text query)")
    if mode in ("semantic", "hybrid") and not has_vector:
        raise LibraryError(f"{mode} search needs a text, image or 'more like this' query")
    if mode == "keyword" and request.min_score is not None:
        raise LibraryError("--min-score is a cosine similarity: it applies to semantic and hybrid search")
    return mode


def query_vectors(library, encoder, requests: Sequence[SearchRequest], modes: Sequence[str]) -> list:
    """One vector per request that has a semantic side (None otherwise); every text of the batch goes
    to the encoder in one call (through the cache), then each query is composed from cached vectors."""
    needed = [r for r, m in zip(requests, modes) if m != "keyword" and r.vector is None]
    if encoder is not None and not isinstance(encoder, CachedTextEncoder):
        encoder = CachedTextEncoder(encoder)
    texts = [str(t.value) for r in needed for t in r.terms if t.kind == "text"]
    if texts:
        encoder.encode_texts(texts)  # warms the cache: one batched forward pass for the misses
    if encoder is not None:
        encoder = encoder.uncounted()  # composing reads back what was just fetched: not new hits
    return [None if m == "keyword" else r.vector if r.vector is not None else compose_query(encoder, r.terms, library)
            for r, m in zip(requests, modes)]


def semantic_candidates(library, vectors: Sequence["np.ndarray"], depth: int, where: str | None,
                        exclude_ids: Sequence[str] = ()) -> list[list[dict]]:
    """The vector side of several queries sharing depth and filter, as one call (one matrix product
    on the vector cache's path)."""
    return library.search_many(list(vectors), k=depth, where=where, exclude_ids=exclude_ids)


def search_many(library: "ImageLibrary", encoder, requests: Sequence[SearchRequest]) -> list[SearchPage]:
    """Run a batch of searches: one encoder call for all their texts, then one ranked list each."""
    started = time.perf_counter()
    modes = [choose_mode(library, r) for r in requests]
    for request in requests:
        check_sort(library, request.sort)
        if request.where:
            library.validate_filter(request.where)
    vectors = query_vectors(library, encoder, requests, modes)
    encoded = time.perf_counter()
    model_id = library.model_info()[0]
    # The keyword sides run in threads while the vector sides run here (LanceDB releases the GIL), so
    # a hybrid search costs about the slower side, not the sum.
    with ThreadPoolExecutor(max_workers=KEYWORD_THREADS) as pool:
        keyword = {i: pool.submit(keyword_results, library, r.words(), retrieval_depth(r.offset, r.k), r.where,
                                  vector=vectors[i], exclude_ids=r.exclude_ids)
                   for i, (r, mode) in enumerate(zip(requests, modes)) if mode != "semantic"}
        semantic: dict[int, list[dict]] = {}
        groups: dict[tuple, list[int]] = {}
        for i, (request, mode) in enumerate(zip(requests, modes)):
            if mode != "keyword":
                key = (retrieval_depth(request.offset, request.k), request.where, tuple(request.exclude_ids))
                groups.setdefault(key, []).append(i)
        for (depth, where, exclude), members in groups.items():
            found = semantic_candidates(library, [vectors[i] for i in members], depth, where, exclude)
            semantic.update(zip(members, found))
        pages = [_page(library, request, mode, semantic.get(i, []), keyword[i].result() if i in keyword else [], model_id)
                 for i, (request, mode) in enumerate(zip(requests, modes))]
    log.debug("%d searches: encoding %.1f ms, searching %.1f ms", len(requests),
              (encoded - started) * 1000, (time.perf_counter() - encoded) * 1000)
    return pages


def search(library: "ImageLibrary", encoder, request: SearchRequest) -> SearchPage:
    started = time.perf_counter()
    page = search_many(library, encoder, [request])[0]
    page.took_ms = (time.perf_counter() - started) * 1000
    return page


def _page(library, request: SearchRequest, mode: str, hits: list[dict], keyword: list[dict], model_id) -> SearchPage:
    started = time.perf_counter()
    cut = 0
    if mode != "keyword":
        if request.min_score is not None:
            hits = [h for h in hits if h["score"] >= request.min_score]
        if request.cutoff and request.text_only():
            hits, cut = relevance_cutoff(hits, model_id)
        hits = semantic_results(hits)
    if mode == "semantic":
        ranked = hits
    else:
        ranked = keyword if mode == "keyword" else fuse(request.words(), hits, keyword)
    ranked = sort_results(ranked, request.sort)
    results = ranked[request.offset:request.offset + request.k]
    if request.with_thumbnail and results:
        thumbs = {r["id"]: r["thumbnail"] for r in library.get_many([r["id"] for r in results], with_thumbnail=True)}
        for row in results:
            row["thumbnail"] = thumbs.get(row["id"])
    return SearchPage(mode=mode, results=results, offset=request.offset, k=request.k, candidates=len(ranked),
                      cut=cut, took_ms=(time.perf_counter() - started) * 1000)


# --- the search document: one JSON shape for the CLI's `search --json` and the HTTP API -----------


class QueryError(BadInputError):
    """A query that cannot run as given (unknown id, bad mode, empty query): one line to show as is."""


class UnknownImageError(QueryError):
    """No image in the library has this id (or id prefix)."""


@dataclass(frozen=True)
class Term:
    kind: str  # "text", "image" (a decoded PIL image) or "id" (a row already in the library)
    value: Any
    weight: float = 1.0
    label: str | None = None  # how the term is shown in the result document (an image's path or name)


@dataclass(frozen=True)
class SearchOutcome:
    document: dict  # {"query": {...}, "mode", "offset", ..., "took_ms", "results": [...]}
    encode_s: float  # time spent encoding the query terms (0 for a vector or ids only)


def resolve_id(library: "ImageLibrary", prefix: str, option: str | None = None) -> str:
    """A full image id from an id or a unique prefix of at least 6 hex characters (`option` names
    where it was given, for the message)."""
    if not re.fullmatch(r"[0-9a-fA-F]{6,64}", prefix or ""):
        wants = f"{option} takes an image id (hex, at least 6 characters)" if option else \
            "an image id is hex, at least 6 characters"
        raise QueryError(f"{wants}, got {prefix!r}")
    found = library.query(where=f"starts_with(id, '{prefix.lower()}')", select=["id"], limit=2)["id"].to_pylist()
    if not found:
        raise UnknownImageError(f"no image with id {prefix} in the library")
    if len(found) > 1:
        raise QueryError(f"id prefix {prefix} is ambiguous: give more characters")
    return found[0]


def search_document(page: SearchPage, terms: Sequence[Term], *, k: int, where: str | None, offset: int,
                    sort: str, took_ms: float, shown: dict | None = None) -> dict:
    described = {**(shown or {}),
                 "terms": [{"kind": t.kind, "value": t.label if t.label is not None else t.value, "weight": t.weight}
                           for t in terms],
                 "k": k, "where": where, "mode": page.mode, "offset": offset, "sort": sort}
    return {"query": described, **page.to_dict(), "took_ms": round(took_ms, 2)}


def run_search(
    library: "ImageLibrary",
    terms: Sequence[Term] = (),
    *,
    encoder: "Callable[[], Any] | None" = None,
    vector: "Sequence[float] | np.ndarray | None" = None,
    k: int = 10,
    offset: int = 0,
    where: str | None = None,
    min_score: float | None = None,
    mode: str | None = None,
    sort: str = "score",
    cutoff: bool = True,
    shown: dict | None = None,
) -> SearchOutcome:
    """Search `library` and describe the query and its results as one JSON-ready document.

    `encoder` is called only when a text or image term needs encoding ("more like this", keyword
    search and a vector need no model). `shown` adds caller fields to the document's `query`."""
    import numpy as np

    if k < 1:
        raise QueryError("k must be at least 1")
    if offset < 0:
        raise QueryError("offset must be 0 or more")
    if vector is not None and terms:
        raise QueryError("give either query terms or a vector, not both")
    if vector is None and not terms:
        raise QueryError("give a query: text, an image, an image id or a vector")
    library.table  # a missing table is one clear error before any model loads
    started = time.perf_counter()
    query_vector = _unit_vector(np, vector) if vector is not None else None
    request = SearchRequest(terms=[QueryTerm(t.kind, t.value, t.weight) for t in terms], mode=mode, k=k,
                            offset=offset, where=where, min_score=min_score, cutoff=cutoff, sort=sort,
                            exclude_ids=[t.value for t in terms if t.kind == "id"], vector=query_vector)
    model = None
    if mode != "keyword" and any(t.kind != "id" for t in terms):
        model = encoder() if encoder is not None else None
        if model is None:
            raise QueryError("text and image terms need a model")
        library.check_model(model.model_id, model.dim, model.identity)
    encoding = time.perf_counter()
    try:
        page = search(library, model, request)
    except LibraryError as error:
        raise QueryError(str(error)) from None
    took_ms = (time.perf_counter() - started) * 1000
    document = search_document(page, terms, k=k, where=where, offset=offset, sort=sort, took_ms=took_ms, shown=shown)
    if vector is not None:
        document["query"]["vector"] = True
    return SearchOutcome(document, max(0.0, (time.perf_counter() - encoding) * 1000 - page.took_ms) / 1000)


def _unit_vector(np, vector) -> "np.ndarray":
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(values)) if values.size else 0.0
    if not np.isfinite(norm) or norm < 1e-6:
        raise QueryError("the query vector must be finite and non-zero")
    return values / norm
