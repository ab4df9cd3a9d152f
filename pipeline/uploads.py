"""The dashboard's (and the HTTP API's) upload: files handed over by a person enter through the
ingestion core (pipeline/ingest/handed.py) with one description and one set of tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from pipeline.images import DecodeLimits
from pipeline.ingest.handed import DUPLICATE, INDEXED, REJECTED, FileOutcome, HandedFile, ingest_files

if TYPE_CHECKING:
    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary

UploadOutcome = FileOutcome
__all__ = ["DUPLICATE", "INDEXED", "REJECTED", "UploadOutcome", "index_uploads"]


def index_uploads(
    library: "ImageLibrary",
    encoder: "ClipEncoder",
    files: Sequence[tuple[str, bytes]],
    *,
    media: str,
    description: str = "",
    tags: Sequence[str] = (),
    limits: DecodeLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[UploadOutcome]:
    """Index (name, bytes) pairs into `library`, originals kept in the `media` folder; one outcome per file."""
    handed = [HandedFile(name, data, description, tuple(tags)) for name, data in files]
    outcomes, _ = ingest_files(library, encoder, handed, media_dir=media, limits=limits, progress=progress)
    return outcomes
