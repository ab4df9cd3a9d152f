"""Encoder stage: an actor holding one ClipEncoder turns ready uint8 pixels into vectors.

One actor per GPU (num_gpus=1, fp16 by default); without GPUs, CPU actors whose torch threads share
the cores. No JPEG work happens here: the decode tasks did it.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from store.errors import one_line

log = logging.getLogger(__name__)


class EncodeBatch:
    """Callable class for `Dataset.map_batches`: adds `vector` (n, dim) and drops `pixels`.

    Only rows with status "ok" are encoded. If a batch fails, its images are retried one by one so
    a single bad tensor fails alone (status "failed", stage "encode")."""

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", batch_size: int = 64,
                 threads: int | None = None):
        from pipeline.encoder import ClipEncoder

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.encoder = ClipEncoder(model, device=device, dtype=dtype, batch_size=batch_size)
        self.encoder.model  # load now: the first batch should not pay for it, and errors surface early

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        pixels = batch.pop("pixels")
        status = np.array(batch["status"], dtype=object)
        n = len(status)
        vectors = np.zeros((n, self.encoder.dim), dtype=np.float32)
        ok = np.flatnonzero(status == "ok")
        if ok.size:
            try:
                vectors[ok] = self.encoder.encode_prepared(pixels[ok])
            except Exception as error:  # noqa: BLE001 - isolate the culprit below
                log.warning("batch encode failed (%s); retrying images one by one", error)
                stage, reason = (np.array(batch[k], dtype=object) for k in ("stage", "reason"))
                for i in ok:
                    try:
                        vectors[i] = self.encoder.encode_prepared(pixels[i:i + 1])[0]
                    except Exception as one:  # noqa: BLE001
                        status[i], stage[i] = "failed", "encode"
                        reason[i] = one_line(one)
                batch["stage"], batch["reason"] = stage, reason
        batch["status"] = status
        batch["vector"] = vectors
        batch["encode_s"] = np.full(n, (time.perf_counter() - t0) / max(ok.size, 1)) * (status == "ok")
        return batch
