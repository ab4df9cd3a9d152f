"""The in-process executor: read and decode on a thread pool, encode in batches, write in large commits.

It runs the same stages as the Ray Data job (pipeline/job); it serves small jobs, uploads, kept
generated images and machines without Ray.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

from pipeline.images import DecodeLimits
from pipeline.ingest.item import Item
from pipeline.ingest.stages import Preparer, chunks, drop_known, encode, load
from pipeline.ingest.write import COMMIT_EVERY, RowWriter

# A stage some entry points add between encoding and writing (uploads keep their originals there).
AfterEncode = Callable[[Sequence[Item]], None]


def run_local(
    writer: RowWriter,
    encoder: Preparer,
    items: Iterable[Item],
    *,
    known_among: Callable[[list[str]], set[str]],
    limits: DecodeLimits,
    batch_size: int = 32,
    threads: int = 2,
    s3_options: dict | None = None,
    after_encode: AfterEncode | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Push every item through load -> drop_known -> encode -> (after_encode) -> writer.

    The next batch is read and decoded on the pool while the current one is encoded, so decoding
    costs little wall time (at most two batches of model inputs are held)."""
    batches = chunks(items, batch_size)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:

        def start(batch: list[Item] | None):
            if batch is None:
                return None
            return batch, [pool.submit(load, item, encoder, limits, s3_options) for item in batch]

        pending = start(next(batches, None))
        while pending is not None:
            batch, loading = pending
            for future in loading:
                future.result()
                if progress:
                    progress(1)  # one image read and decoded
            pending = start(next(batches, None))  # decode ahead while this batch encodes
            drop_known(batch, known_among)
            encode(batch, encoder)
            if after_encode:
                after_encode(batch)
            writer.write(batch)


__all__ = ["COMMIT_EVERY", "RowWriter", "run_local"]
