"""One search, shared by the CLI (`search --json`) and the HTTP API, so both print the same document.

A search is a list of weighted terms (text, a decoded image, or an id already in the library, as in
pipeline/compose.py) or one precomputed vector, plus k, offset, a filter and a minimum score. The
caller turns its own input (argv, JSON, multipart) into `Term`s; everything after that lives here.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary

# Modes the library answers today; hybrid and keyword search extend this tuple and `run_search`.
SEARCH_MODES = ("semantic",)


class QueryError(ValueError):
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
    document: dict  # {"query": {...}, "took_ms": ..., "results": [...]}: the CLI's --json shape
    encode_s: float  # time spent encoding the query terms (0 for a vector or ids only)


def resolve_id(library: "ImageLibrary", prefix: str) -> str:
    """A full image id from an id or a unique prefix of at least 6 hex characters."""
    if not re.fullmatch(r"[0-9a-fA-F]{6,64}", prefix or ""):
        raise QueryError(f"an image id is hex, at least 6 characters, got {prefix!r}")
    found = library.query(where=f"starts_with(id, '{prefix.lower()}')", select=["id"], limit=2)["id"].to_pylist()
    if not found:
        raise UnknownImageError(f"no image with id {prefix} in the library")
    if len(found) > 1:
        raise QueryError(f"id prefix {prefix} is ambiguous: give more characters")
    return found[0]


def check_mode(mode: str) -> str:
    if mode not in SEARCH_MODES:
        raise QueryError(f"search mode {mode!r} is not available: use {', '.join(SEARCH_MODES)}")
    return mode


def run_search(
    library: "ImageLibrary",
    terms: Sequence[Term] = (),
    *,
    encoder: "Callable[[], ClipEncoder] | None" = None,
    vector: Sequence[float] | np.ndarray | None = None,
    k: int = 10,
    offset: int = 0,
    where: str | None = None,
    min_score: float | None = None,
    mode: str = "semantic",
    shown: dict | None = None,
) -> SearchOutcome:
    """Search `library` and describe the query and its results as one JSON-ready document.

    `encoder` is called only when a text or image term needs encoding ("more like this" and a vector
    need no model). `shown` adds caller fields to the document's `query` (the CLI's raw --text).
    """
    from pipeline.compose import QueryTerm, compose_query

    check_mode(mode)
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
    encode_s = 0.0
    if vector is not None:
        query = _unit_vector(vector)
    else:
        model = None
        if any(t.kind != "id" for t in terms):
            model = encoder() if encoder is not None else None
            if model is None:
                raise QueryError("text and image terms need a model")
            library.check_model(model.model_id, model.dim)
        encoding = time.perf_counter()
        query = compose_query(model, [QueryTerm(t.kind, t.value, t.weight) for t in terms], library)
        encode_s = time.perf_counter() - encoding
    exclude = [t.value for t in terms if t.kind == "id"]
    hits = library.search(query, k=k + offset, where=where, min_score=min_score, exclude_ids=exclude)[offset:]
    took_ms = (time.perf_counter() - started) * 1000
    described = {**(shown or {}),
                 "terms": [{"kind": t.kind, "value": t.label if t.label is not None else t.value, "weight": t.weight}
                           for t in terms],
                 "k": k, "where": where, "mode": mode}
    if offset:
        described["offset"] = offset
    if vector is not None:
        described["vector"] = True
    return SearchOutcome({"query": described, "took_ms": round(took_ms, 2), "results": hits}, encode_s)


def _unit_vector(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(values)) if values.size else 0.0
    if not np.isfinite(norm) or norm < 1e-6:
        raise QueryError("the query vector must be finite and non-zero")
    return values / norm
