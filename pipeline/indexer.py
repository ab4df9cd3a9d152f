"""In-process indexing: decode on a thread pool, encode in batches, write in large commits.

The Ray Data job (pipeline/job) runs the same stages across a cluster; this path serves small
jobs, the dashboard's uploads, and machines without Ray.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

from pipeline.encoder import ClipEncoder
from pipeline.images import DecodedImage, DecodeLimits, decode_image, file_name_of
from pipeline.job.read import read_bytes
from pipeline.report import IndexReport
from pipeline.rows import image_row
from pipeline.sources import Source
from store import ImageLibrary
from store.errors import one_line

log = logging.getLogger(__name__)
T = TypeVar("T")

WRITE_EVERY = 2048  # rows per table commit: few versions and fragments, bounded memory


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def unchanged(source: Source, fingerprints: dict) -> bool:
    """Same uri, size and mtime as the stored row: skip without reading the bytes (as rclip does)."""
    known = fingerprints.get(source.uri)
    if known is None or source.size is None or source.mtime is None:
        return False
    size, mtime, _ = known
    if size != source.size or mtime is None:
        return False
    stored = mtime.timestamp() if isinstance(mtime, datetime) else float(mtime)
    return abs(stored - source.mtime) < 1e-3


def index_sources(
    library: ImageLibrary,
    encoder: ClipEncoder,
    sources: Iterable[Source],
    *,
    batch_size: int = 32,
    limits: DecodeLimits | None = None,
    decode_threads: int = 2,
    progress: Callable[[int], None] | None = None,
    s3_options: dict | None = None,
) -> IndexReport:
    """Index every source (local path, s3:// or http(s):// URI) into `library`; bad files are
    reported with the stage that failed ("read" or "decode"), never fatal."""
    limits = limits or DecodeLimits.from_env()
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    fingerprints = library.fingerprints()
    report = IndexReport()
    stage = report.stage_seconds
    pending_rows: list[dict] = []
    started = time.perf_counter()
    draft = encoder.image_size  # JPEG DCT scaling down to the model input (see images.decode_image)

    def flush() -> None:
        if pending_rows:
            t0 = time.perf_counter()
            result = library.add(pending_rows)
            stage["write"] = stage.get("write", 0.0) + time.perf_counter() - t0
            report.indexed += result.inserted
            report.skipped += result.skipped
            pending_rows.clear()

    def decode(source: Source) -> tuple[DecodedImage, str]:
        data, error = read_bytes(source.uri, limits, s3_options)
        if data is None:
            return DecodedImage(uri=source.uri, image=None, file_name=file_name_of(source.uri), error=error), "read"
        return decode_image(data, source.uri, limits, draft_size=draft), "decode"

    with ThreadPoolExecutor(max_workers=decode_threads) as pool:
        for batch in _chunks(sources, batch_size):
            report.seen += len(batch)
            fresh = [s for s in batch if not unchanged(s, fingerprints)]
            report.skipped += len(batch) - len(fresh)
            t0 = time.perf_counter()
            decoded = list(pool.map(decode, fresh))
            stage["decode"] = stage.get("decode", 0.0) + time.perf_counter() - t0
            good: list[tuple[Source, DecodedImage]] = []
            for source, (image, failed_stage) in zip(fresh, decoded):
                if image.ok:
                    good.append((source, image))
                else:
                    report.fail(source.uri, failed_stage, image.error or "unknown error")
            known = library.existing_ids([d.id for _, d in good]) if good else set()
            report.skipped += sum(1 for _, d in good if d.id in known)
            good = [(s, d) for s, d in good if d.id not in known]
            if good:
                t0 = time.perf_counter()
                vectors = _encode_or_fail(encoder, good, report)
                stage["encode"] = stage.get("encode", 0.0) + time.perf_counter() - t0
                for (source, image), vector in zip(good, vectors):
                    if vector is not None:
                        pending_rows.append(image_row(
                            image, vector, description=source.description,
                            tags=source.tags, mtime=source.mtime,
                        ))
            if len(pending_rows) >= WRITE_EVERY:
                flush()
            if progress:
                progress(len(batch))
    flush()
    report.seconds = time.perf_counter() - started
    return report


def _encode_or_fail(encoder: ClipEncoder, good: Sequence[tuple[Source, DecodedImage]], report: IndexReport) -> list:
    """Encode a batch; if the batch fails, retry one by one so one bad image fails alone."""
    try:
        return list(encoder.encode_images([d.image for _, d in good]))
    except Exception as error:  # noqa: BLE001 - isolate the culprit below
        log.warning("batch encode failed (%s); retrying images one by one", error)
    vectors = []
    for source, image in good:
        try:
            vectors.append(encoder.encode_images([image.image])[0])
        except Exception as error:  # noqa: BLE001
            report.fail(source.uri, "encode", one_line(error))
            vectors.append(None)
    return vectors
