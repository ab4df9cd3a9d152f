"""Composed queries: weighted text, image and "more like this" terms folded into one vector.

A negative weight pushes results away from a term ("beach" + "-people"). Terms are encoded in
one batch per modality, then summed with their weights and L2-normalised, as rclip does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from pipeline.errors import BadInputError

if TYPE_CHECKING:
    from PIL import Image

    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary


@dataclass(frozen=True)
class QueryTerm:
    kind: str  # "text", "image" (a PIL image) or "id" (a row already in the library)
    value: "str | Image.Image"
    weight: float = 1.0

    def __post_init__(self):
        if self.kind not in ("text", "image", "id"):
            raise BadInputError(f"unknown query term kind {self.kind!r}: use text, image or id")
        if not np.isfinite(self.weight) or self.weight == 0:
            raise BadInputError(f"a query term's weight must be a non-zero number, got {self.weight}")


def compose_query(
    encoder: "ClipEncoder", terms: Sequence[QueryTerm], library: "ImageLibrary | None" = None
) -> np.ndarray:
    """One L2-normalised float32 query vector from weighted terms."""
    if not terms:
        raise BadInputError("a query needs at least one term")
    if all(t.weight < 0 for t in terms):
        raise BadInputError("a query needs at least one positive term (negative terms only push away)")
    vectors: list[np.ndarray | None] = [None] * len(terms)
    texts = [(i, t.value) for i, t in enumerate(terms) if t.kind == "text"]
    images = [(i, t.value) for i, t in enumerate(terms) if t.kind == "image"]
    ids = [(i, t.value) for i, t in enumerate(terms) if t.kind == "id"]
    if texts:
        for (i, _), v in zip(texts, encoder.encode_texts([value for _, value in texts])):
            vectors[i] = v
    if images:
        for (i, _), v in zip(images, encoder.encode_images([value for _, value in images])):
            vectors[i] = v
    if ids:
        if library is None:
            raise BadInputError("'more like this' terms need a library")
        rows = {r["id"]: r for r in library.get_many([value for _, value in ids], with_vector=True)}
        for i, image_id in ids:
            if image_id not in rows:
                raise BadInputError(f"no image with id {image_id} in the library")
            vectors[i] = np.asarray(rows[image_id]["vector"], dtype=np.float32)
    combined = sum(t.weight * v for t, v in zip(terms, vectors))
    norm = float(np.linalg.norm(combined))
    if norm < 1e-6:
        raise BadInputError("the query terms cancel each other out")
    return (combined / norm).astype(np.float32)
