"""Build the library row for one decoded image: shared by the in-process and the Ray indexers."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.images import DecodedImage
from store.redact import redact_uri


def image_row(
    decoded: DecodedImage,
    vector: np.ndarray,
    *,
    description: str = "",
    tags: tuple[str, ...] | list[str] = (),
    mtime: float | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": decoded.id,
        "uri": redact_uri(decoded.uri),  # a password in a URL must not reach every viewer
        "file_name": decoded.file_name,
        "description": description,
        "tags": list(tags),
        "width": decoded.width,
        "height": decoded.height,
        "format": decoded.format,
        "file_size": decoded.file_size,
        "mtime": mtime,
        "attributes": attributes,
        "thumbnail": decoded.thumbnail,
        "vector": vector,
    }
