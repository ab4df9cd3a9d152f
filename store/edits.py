"""Edits after indexing: a row's description and tags, a tag on many rows, the favourite flag.

Favourite is the reserved tag `favourite` rather than a column, so it needs no schema change and
every tag filter (and the CLI's --where) already sees it. Each call is one commit, so an edit is a
new table version like any other write and can be undone from the history.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import pyarrow as pa

FAVOURITE = "favourite"


def _merge_tags(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> list[str]:
    """Order kept, no repeats; add/remove compare case-insensitively (as the tag filters do)."""
    gone = {t.lower() for t in remove}
    result: list[str] = []
    seen: set[str] = set()
    for tag in [*current, *add]:
        key = tag.lower()
        if key in gone or key in seen:
            continue
        seen.add(key)
        result.append(tag)
    return result


def _clean(tags: Iterable[str]) -> list[str]:
    return [t.strip() for t in tags if t and t.strip()]


def update_rows(library, ids: Sequence[str], description: str | None = None, add_tags: Iterable[str] = (),
                remove_tags: Iterable[str] = (), tags: Iterable[str] | None = None) -> int:
    """Change description and/or tags of the rows `ids`; returns how many rows changed.

    `tags` replaces the list; `add_tags`/`remove_tags` edit it. Rows that would not change are left
    alone, and when none changes no version is written.
    """
    from store.commits import retry_on_conflict
    from store.library import id_filter

    library._check_writable()
    ids = list(dict.fromkeys(ids))
    add, remove = _clean(add_tags), _clean(remove_tags)
    replace = None if tags is None else _clean(tags)
    if not ids or (description is None and replace is None and not add and not remove):
        return 0
    table = library.table
    rows = table.to_lance().to_table(filter=id_filter(ids)).to_pylist()
    changed = []
    for row in rows:
        new_tags = _merge_tags(replace if replace is not None else (row.get("tags") or []), add, remove)
        new_description = row.get("description") if description is None else description
        if new_tags != (row.get("tags") or []) or new_description != row.get("description"):
            changed.append({**row, "tags": new_tags, "description": new_description})
    if not changed:
        return 0
    data = pa.Table.from_pylist(changed, schema=table.schema)
    retry_on_conflict(lambda: table.merge_insert("id").when_matched_update_all().execute(data))
    return len(changed)
