"""What `ImageLibrary.stats()` reports: rows, bytes, formats, versions, disk, indexes, photos, search path."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from store.schema import schema_model

if TYPE_CHECKING:
    from store.library import ImageLibrary  # noqa: F401 - annotations


def library_stats(library: "ImageLibrary") -> dict:
    from store.insights import photo_summary

    table = library.table
    model, dim = schema_model(table.schema)
    data = library._guarded(lambda: table.to_lance().to_table(columns=["format", "file_size"]))
    formats = {}
    if data.num_rows:
        counts = data["format"].fill_null("unknown").value_counts()
        formats = {item["values"].as_py(): item["counts"].as_py() for item in counts}
    total = pc.sum(data["file_size"]).as_py() if data.num_rows else 0
    return {
        "db": library.shown_uri,
        "table": library.table_name,
        "model": model,
        "dim": dim,
        "rows": data.num_rows,
        "total_bytes": int(total or 0),
        "formats": dict(sorted(formats.items(), key=lambda kv: -kv[1])),
        "version": int(table.version),
        "versions": len(table.list_versions()),
        "disk_bytes": disk_bytes(library),
        "indices": [index_name(i) for i in table.list_indices()],
        **photo_summary(library),  # with_taken_at, with_location, top_cameras
        **search_stats(library),
    }

def search_stats(library: "ImageLibrary") -> dict:
    from store.search_paths import predicted_path

    cache = library.vector_cache.state()
    return {"search_path": predicted_path(library, library.vector_cache), "last_search_path": library.last_search_path,
            "vector_cache": cache, "vector_cache_bytes": cache["bytes"]}

def disk_bytes(library: "ImageLibrary") -> int:
    path = os.path.join(library.db_uri, f"{library.table_name}.lance")
    if "://" in library.db_uri or not os.path.isdir(path):
        return int(library.table.stats().get("total_bytes", 0))
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass  # a concurrent cleanup removed it
    return total


def index_name(index: Any) -> str:
    return getattr(index, "name", None) or str(index)
