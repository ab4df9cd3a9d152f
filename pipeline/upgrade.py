"""Fill the photo columns of rows indexed before they existed, from the original files' EXIF.

Only metadata is read: each file is opened with Pillow (header and EXIF parsed, no pixel decoded)
or, for camera RAW, as its TIFF container. No vector is touched or recomputed (store/upgrade.py
adds the columns with Lance schema evolution). Rows whose file is gone keep nulls.
"""

from __future__ import annotations

import io
import logging
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from pipeline.codecs import tiff_exif_source
from pipeline.formats import raw_format_of
from pipeline.images import ALLOWED_FORMATS, DecodeLimits
from pipeline.ingest.read import read_bytes
from pipeline.photo_metadata import empty_metadata, photo_metadata
from store.schema import PHOTO_COLUMNS
from store.upgrade import fill_photo_columns, missing_photo_fields, needs_upgrade

log = logging.getLogger(__name__)


@dataclass
class UpgradeReport:
    upgraded: bool  # the schema changed (columns added, version recorded)
    checked: int = 0  # rows whose photo columns were empty
    filled: int = 0  # rows that gained at least one value
    unreadable: int = 0  # rows whose file could not be read
    seconds: float = 0.0


def file_metadata(data: bytes, uri: str, location: bool = True) -> dict:
    """Photo column values from a file's bytes, without decoding its pixels; all None if unreadable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = tiff_exif_source(data) if raw_format_of(uri) else Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except Exception:  # noqa: BLE001 - not an image any more: nothing to read
            img = None
        return photo_metadata(img, location=location) if img is not None else empty_metadata()


def upgrade_library(library, limits: DecodeLimits | None = None, s3_options: dict | None = None,
                    threads: int = 4) -> UpgradeReport:
    """Bring the table to the current schema and backfill rows whose photo columns are all empty."""
    limits = limits or DecodeLimits()
    started = time.perf_counter()
    upgraded = needs_upgrade(library)
    dataset = library.table.to_lance()
    present = [c for c in PHOTO_COLUMNS if c in dataset.schema.names]
    empty = " AND ".join(f"{c} IS NULL" for c in present) or None
    rows = dataset.to_table(columns=["id", "uri"], filter=empty).to_pylist()
    report = UpgradeReport(upgraded=upgraded, checked=len(rows))

    def read(row: dict) -> dict | None:
        data, _error = read_bytes(row["uri"] or "", limits, s3_options)
        if data is None:
            return None
        return {"id": row["id"], **file_metadata(data, row["uri"], limits.location)}

    with ThreadPoolExecutor(max_workers=threads) as pool:
        found = list(pool.map(read, rows))
    report.unreadable = sum(1 for f in found if f is None)
    values = [f for f in found if f is not None]
    if values or missing_photo_fields(library.table.schema) or upgraded:
        report.filled = fill_photo_columns(library, values)
    report.seconds = time.perf_counter() - started
    return report
