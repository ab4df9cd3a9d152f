"""A small real library (tiny random CLIP, photos on disk) for the dashboard tests, copied per test."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from tests.sample_images import make_image, write_photos

PHOTOS = 8


def build_library(root: Path, model_dir: str) -> Path:
    """root/data/db with PHOTOS images indexed from root/photos; returns the db path."""
    from pipeline.encoder import ClipEncoder
    from pipeline.indexer import index_sources
    from pipeline.sources import Source, local_sources
    from store import ImageLibrary

    photos = write_photos(root / "photos", PHOTOS, size=(160, 120))
    db = root / "data" / "db"
    library = ImageLibrary(str(db))
    sources = [Source(s.uri, s.size, s.mtime, description=f"sample {i}", tags=("sample", "even" if i % 2 == 0 else "odd"))
               for i, s in enumerate(local_sources([str(p) for p in photos]))]
    report = index_sources(library, ClipEncoder(model_dir, device="cpu"), sources)
    assert report.indexed == PHOTOS, report
    return db


def copy_library(template_root: Path, target_root: Path) -> Path:
    """A private copy (db + photos keep their absolute uris pointing at the template's photos)."""
    shutil.copytree(template_root / "data", target_root / "data")
    return target_root / "data" / "db"


def jpeg_bytes(seed: int, size=(96, 72)) -> bytes:
    buf = io.BytesIO()
    make_image(seed, size).save(buf, "JPEG")
    return buf.getvalue()
