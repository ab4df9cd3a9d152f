"""Keyword search on LanceDB's own full-text index (native FTS: BM25 over tokenised, stemmed words).

`TEXT_FIELDS` is the one list of columns that words are searched in; a new text column (place
names, camera) joins search by being added here. Native FTS indexes one column each, so every
field gets its own index (`<field>_fts`) and a query is a `MultiMatchQuery` over all of them,
scored by BM25 and summed over fields.

When the indexes are built (measured in benchmarks/hybrid_bench.py): building all three on 10,000
rows takes well under a second, so `optimize` always builds or refreshes them and bulk jobs
(`optimize_if_large`) do it after every job, whatever the table size. Rows added since (uploads, a
running job) are still found: LanceDB searches unindexed fragments with a flat scan, which only
gets slower, never wrong, until the next refresh.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Sequence

from store.errors import LibraryError
from store.schema import METADATA_COLUMNS

if TYPE_CHECKING:
    import pyarrow as pa

    from store.library import ImageLibrary

log = logging.getLogger(__name__)

# The columns a keyword is looked up in: the one place to extend (place names, camera model...).
TEXT_FIELDS = ("file_name", "description", "tags")
FTS_SUFFIX = "_fts"
MAX_QUERY_LENGTH = 1000


def fts_index_name(field: str) -> str:
    return field + FTS_SUFFIX


def indexed_text_fields(table) -> list[str]:
    """The TEXT_FIELDS that have a full-text index, in TEXT_FIELDS order."""
    indexed = {tuple(i.columns) for i in table.list_indices() if str(i.index_type).upper() in ("FTS", "INVERTED")}
    return [f for f in TEXT_FIELDS if (f,) in indexed]


def has_text_index(library: "ImageLibrary") -> bool:
    """True when the table has a full-text index on at least one text field (keyword search is on)."""
    return bool(indexed_text_fields(library.table))


def refresh_text_indexes(library: "ImageLibrary") -> list[str]:
    """Build the full-text index of every text field that lacks one, and fold rows added since into
    the existing ones (no compaction: cheap enough to run after every bulk job). Returns the fields
    whose index was built."""
    from lancedb.index import FTS

    table = library.table
    if table.count_rows() == 0:  # nothing to index yet; the first job builds them
        return []
    started = time.perf_counter()
    present = set(indexed_text_fields(table))
    built = []
    for field in TEXT_FIELDS:
        if field in table.schema.names and field not in present:
            # The defaults: simple tokenizer, lower case, English stemming ("cats" finds "cat"),
            # stop words removed, ASCII folding ("café" finds "cafe").
            table.create_index(field, config=FTS(), name=fts_index_name(field), replace=True)
            built.append(field)
    stale = [fts_index_name(f) for f in present if _unindexed_rows(table, fts_index_name(f))]
    if stale:
        table.to_lance().optimize.optimize_indices(index_names=stale)
        table.checkout_latest()  # the handle would otherwise see the commit only after its consistency interval
    log.debug("text indexes: built %s, refreshed %s in %.3f s", built, stale, time.perf_counter() - started)
    return built


def _unindexed_rows(table, name: str) -> int:
    return int(getattr(table.index_stats(name), "num_unindexed_rows", 0) or 0)


def check_text_query(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise LibraryError("a keyword search needs some words")
    if len(text) > MAX_QUERY_LENGTH:
        raise LibraryError(f"the keyword query is longer than {MAX_QUERY_LENGTH} characters")
    return text


def keyword_query(library: "ImageLibrary", text: str, limit: int, where: str | None = None,
                  columns: Sequence[str] = tuple(METADATA_COLUMNS)) -> "pa.Table":
    """Rows matching any word of `text` in the text fields, best BM25 first (`_score`), filtered
    before ranking (a `where` prefilter: the filter cuts the candidates, not the top k)."""
    from lancedb.query import MultiMatchQuery

    text = check_text_query(text)
    table = library.table
    fields = indexed_text_fields(table) or [f for f in TEXT_FIELDS if f in table.schema.names]
    # A plain string goes through the tokenizer, so quotes, brackets and operators in what a user
    # typed are words or nothing, never query syntax.
    builder = table.search(MultiMatchQuery(text, fields), query_type="fts").select(list(columns) + ["_score"])
    if where:
        builder = builder.where(where, prefilter=True)
    hits = builder.limit(limit).to_arrow()
    # BM25 ties are common (same words, same lengths): order them by id so pages are stable.
    return hits.sort_by([("_score", "descending"), ("id", "ascending")])
