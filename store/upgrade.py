"""Schema evolution: bring a table written by an older layout up to SCHEMA_VERSION in place.

Version 1 -> 2 adds the photo columns (store.schema.PHOTO_FIELDS). Lance adds columns without
rewriting the existing data files, so vectors, thumbnails and ids stay byte for byte what they were
and nothing is re-encoded:

- `add_missing_columns` adds them empty (a metadata-only commit): what the first write to an old
  table does by itself, so new rows can carry their metadata at once;
- `fill_photo_columns` writes values read from the original files (pipeline/upgrade.py reads the
  EXIF): `merge` on `id` when the columns are not there yet (new column files only), else an
  update of just the rows that gained something.
"""

from __future__ import annotations

import logging

import pyarrow as pa

from store.schema import PHOTO_COLUMNS, PHOTO_FIELDS, SCHEMA_VERSION, SCHEMA_VERSION_KEY, schema_version

log = logging.getLogger(__name__)


def missing_photo_fields(schema: pa.Schema) -> list[pa.Field]:
    return [f for f in PHOTO_FIELDS if f.name not in schema.names]


def needs_upgrade(library) -> bool:
    schema = library.table.schema
    return schema_version(schema) < SCHEMA_VERSION or bool(missing_photo_fields(schema))


def _set_version(library) -> None:
    library.table.to_lance().update_schema_metadata({SCHEMA_VERSION_KEY.decode(): str(SCHEMA_VERSION)})
    library.table.checkout_latest()


def add_missing_columns(library) -> bool:
    """Add the photo columns (all null) and record the version; False when already current."""
    if not needs_upgrade(library):
        return False
    before = schema_version(library.table.schema)
    missing = missing_photo_fields(library.table.schema)
    if missing:
        try:
            library.table.add_columns(missing)
        except Exception:  # noqa: BLE001 - another writer may have upgraded it a moment ago
            library.table.checkout_latest()
            if missing_photo_fields(library.table.schema):
                raise
            return False
    _set_version(library)
    log.warning("table '%s' upgraded from schema v%d to v%d: %d photo columns added, empty for the %d existing "
                "rows (python -m pipeline upgrade fills them from the files' EXIF)",
                library.table_name, before, SCHEMA_VERSION, len(missing), library.count())
    return True


def photo_values_table(rows: list[dict]) -> pa.Table:
    """id + photo columns, typed as the schema says, from {"id": ..., **photo values} dicts."""
    from store.schema import _as_utc

    columns = {"id": pa.array([r["id"] for r in rows], pa.string())}
    for f in PHOTO_FIELDS:
        values = [r.get(f.name) for r in rows]
        if f.name == "taken_at":
            values = [_as_utc(v) for v in values]
        columns[f.name] = pa.array(values, f.type)
    return pa.table(columns)


def fill_photo_columns(library, rows: list[dict]) -> int:
    """Write photo values for existing rows by id (vectors untouched); returns rows written."""
    rows = [r for r in rows if any(r.get(c) is not None for c in PHOTO_COLUMNS)]
    table = library.table
    if missing_photo_fields(table.schema) and not rows:
        add_missing_columns(library)
        return 0
    if missing_photo_fields(table.schema):
        data = photo_values_table(rows)
        # merge adds all the new columns in one commit, as new files beside the old ones; rows
        # without values get nulls. Only the columns it brings may be missing, so add the others first.
        present = [f for f in PHOTO_FIELDS if f.name in table.schema.names]
        if present:
            data = data.drop_columns([f.name for f in present])
        table.to_lance().merge(data, left_on="id")
        table.checkout_latest()
        _set_version(library)
        return len(rows)
    if not rows:
        _set_version(library)
        return 0
    schema = pa.schema([pa.field("id", pa.string(), nullable=False), *PHOTO_FIELDS])
    data = photo_values_table(rows).cast(schema)
    table.merge_insert("id").when_matched_update_all().execute(data)
    _set_version(library)
    return len(rows)
