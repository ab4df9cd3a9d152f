"""Keep generated images: they enter the library through the ingestion core like any upload.

A kept image's row has the prompt as description, the tag `generated`, and the generation
parameters (seed included, so it can be made again) in `attributes`.
"""

from __future__ import annotations

from typing import Sequence

from pipeline.encoder import ClipEncoder
from pipeline.errors import RunFailedError
from pipeline.generate import GeneratedImage
from pipeline.ingest.handed import REJECTED, HandedFile, ingest_files
from store import ImageLibrary

GENERATED_TAG = "generated"


def add_generated(library: ImageLibrary, encoder: ClipEncoder, images: Sequence[GeneratedImage],
                  media_dir: str) -> list[str]:
    """Save, encode and add `images` in one commit; return their ids (already-kept ones included)."""
    handed = [HandedFile(f"{generated.params.prompt[:60]}-{generated.seed}.png", generated.png,
                         description=generated.params.prompt, tags=(GENERATED_TAG,),
                         attributes=generated.attributes) for generated in images]
    outcomes, _ = ingest_files(library, encoder, handed, media_dir=media_dir)
    for outcome in outcomes:
        if outcome.status == REJECTED:  # our own PNGs always decode: anything else is worth seeing
            raise RunFailedError(f"cannot keep generated image {outcome.name}: {outcome.reason}")
    return [outcome.id for outcome in outcomes]
