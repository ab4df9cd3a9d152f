"""The table's version history in words: what each version did and how many rows it added or removed.

Lance records one transaction per version; its operation says what kind of write it was, and each
version's manifest carries its row count, so describing the history reads no data files.
Maintenance versions (compaction, index builds) change no rows: the dashboard folds them away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import pyarrow as pa

from store.commits import retry_on_conflict
from store.errors import LibraryError
from store.filters import check_filter_text

if TYPE_CHECKING:
    from store.library import ImageLibrary

# Lance operation name -> what a person would call it.
OPERATIONS = {
    "Overwrite": "created", "Append": "added", "Merge": "added", "Delete": "deleted", "Update": "edited",
    "Restore": "restored", "Rewrite": "compacted", "CreateIndex": "index built", "Project": "schema changed",
    "DataReplacement": "maintenance", "UpdateConfig": "maintenance", "BaseOperation": "index built",
}
MAINTENANCE = {"compacted", "index built", "maintenance"}


def _operation(dataset, version: int) -> str:
    try:
        transaction = dataset.read_transaction(version)
    except Exception:  # noqa: BLE001 - a cleaned-up or pre-transaction version
        transaction = None
    if transaction is None:
        return "unknown"
    name = type(transaction.operation).__name__
    return OPERATIONS.get(name, name.lower())


def describe_versions(library) -> list[dict[str, Any]]:
    """Oldest first: version, timestamp, rows, operation, added, removed, maintenance.

    `added`/`removed` come from the row counts: an edit or a merge that both adds and removes shows
    its net change (exact for the plain adds and deletes that make up most histories).
    """
    dataset = library.table.to_lance()
    result: list[dict[str, Any]] = []
    previous = 0
    for entry in dataset.versions():
        version = int(entry["version"])
        rows = entry.get("metadata", {}).get("total_rows")
        rows = int(rows) if rows is not None else None
        operation = _operation(dataset, version)
        delta = (rows - previous) if rows is not None else 0
        if operation == "edited" and delta:  # merge-insert (adds, uploads) commits as an Update
            operation = "added" if delta > 0 else "deleted"
        result.append({
            "version": version, "timestamp": entry.get("timestamp"), "rows": rows, "operation": operation,
            "added": max(delta, 0), "removed": max(-delta, 0),
            "maintenance": operation in MAINTENANCE and delta == 0,
        })
        previous = rows if rows is not None else previous
    return result


def restore_preview(library, version: int) -> dict[str, int]:
    """What restoring `version` would do to the current table: {"removed": n, "added": m}, by id."""
    table = library.table
    now = set(table.to_lance().to_table(columns=["id"])["id"].to_pylist())
    then = set(table.to_lance().checkout_version(version).to_table(columns=["id"])["id"].to_pylist())
    return {"removed": len(now - then), "added": len(then - now)}


def version_rows(library: "ImageLibrary") -> list[dict]:
    """Every table version, oldest first, with its row count and time."""
    dataset = library.table.to_lance()
    result = []
    for entry in library.table.list_versions():
        version = entry["version"]
        try:
            rows = dataset.checkout_version(version).count_rows()
        except Exception:  # cleaned-up versions cannot be opened any more
            rows = None
        result.append({"version": version, "timestamp": entry.get("timestamp"), "rows": rows})
    return result


def undelete(library: "ImageLibrary", version: int, ids: Iterable[str] | None = None, where: str | None = None) -> int:
    """Bring back the rows that matched `ids`/`where` at `version` and are gone now; every other
    change since (another user's uploads, a running job) stays. Returns how many came back."""
    from store.library import id_filter

    library.check_writable()
    clauses = ([id_filter(list(ids))] if ids else []) + ([f"({where})"] if where else [])
    if not clauses:  # nothing was deleted: bring back nothing (not every missing row)
        return 0
    if where:
        check_filter_text(where)
    old = library.table.to_lance().checkout_version(version)
    rows = old.to_table(filter=" OR ".join(clauses) if clauses else None)
    if rows.num_rows == 0:
        return 0
    for field in library.table.schema:  # a version from before a schema upgrade lacks the new columns
        if field.name not in rows.schema.names:
            rows = rows.append_column(field, pa.nulls(rows.num_rows, field.type))
    return library.add(rows.select(library.table.schema.names).cast(library.table.schema)).inserted


def restore(library: "ImageLibrary", version: int) -> None:
    """Make `version` the latest again (a new version: undo that can itself be undone)."""
    library.check_writable()
    known = {v["version"] for v in library.versions()}
    if version not in known:
        raise LibraryError(f"version {version} does not exist (have {min(known)}..{max(known)})")
    retry_on_conflict(lambda: library.table.restore(version))
