"""The table's version history in words: what each version did and how many rows it added or removed.

Lance records one transaction per version; its operation says what kind of write it was, and each
version's manifest carries its row count, so describing the history reads no data files.
Maintenance versions (compaction, index builds) change no rows: the dashboard folds them away.
"""

from __future__ import annotations

from typing import Any

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
