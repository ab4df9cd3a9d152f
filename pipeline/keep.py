"""Keep generated images: save them in the media folder and index them like any other image.

A kept image's row has the prompt as description, the tag `generated`, and the generation
parameters (seed included, so it can be made again) in `attributes`.
"""

from __future__ import annotations

import os
from typing import Sequence

from pipeline.encoder import ClipEncoder
from pipeline.generate import GeneratedImage
from pipeline.images import DecodeLimits, decode_image
from pipeline.media import save_media
from pipeline.rows import image_row
from store import ImageLibrary

GENERATED_TAG = "generated"


def add_generated(library: ImageLibrary, encoder: ClipEncoder, images: Sequence[GeneratedImage],
                  media_dir: str) -> list[str]:
    """Save, encode and add `images` in one commit; return their ids (already-kept ones included)."""
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    decoded = []
    for generated in images:
        path = save_media(generated.png, media_dir, "png")
        item = decode_image(generated.png, path, DecodeLimits.from_env())
        if not item.ok:  # our own PNGs always decode; anything else is a bug worth seeing
            raise RuntimeError(f"cannot decode generated image {path}: {item.error}")
        decoded.append((generated, item, os.stat(path).st_mtime))
    known = library.existing_ids([item.id for _, item, _ in decoded])
    fresh = [d for d in decoded if d[1].id not in known]
    if fresh:
        vectors = encoder.encode_images([item.image for _, item, _ in fresh])
        library.add([
            image_row(item, vector, description=generated.params.prompt, tags=[GENERATED_TAG],
                      mtime=mtime, attributes=generated.attributes)
            for (generated, item, mtime), vector in zip(fresh, vectors)
        ])
    return [item.id for _, item, _ in decoded]
