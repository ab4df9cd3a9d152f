"""The library row for one encoded Item: the only place image rows are built."""

from __future__ import annotations

from typing import Any

from pipeline.ingest.item import Item
from store.redact import redact_uri


def item_row(item: Item) -> dict[str, Any]:
    decoded = item.decoded
    assert decoded is not None and item.vector is not None, "only encoded items become rows"
    return {
        "id": decoded.id,
        "uri": redact_uri(item.uri),  # a password in a URL must not reach every viewer
        "file_name": item.name or decoded.file_name,
        "description": item.description,
        "tags": list(item.tags),
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "file_size": decoded.file_size,
        "mtime": item.mtime,
        "attributes": item.attributes,
        "thumbnail": decoded.thumbnail,
        "vector": item.vector,
        **decoded.metadata,  # photo columns (taken_at, camera, GPS, place), all nullable
    }
