"""Encoder stage of the Ray job: an actor holding one ClipEncoder runs the core's `encode`.

One actor per GPU (num_gpus=1, fp16 by default); without GPUs, CPU actors whose torch threads share
the cores. No JPEG work happens here: the decode tasks did it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from pipeline.ingest.stages import encode
from pipeline.job.decode import pack, unpack


@dataclass(frozen=True)
class CrashOnBatch:
    """A deterministic fault for the crash tests: the actor that encodes the `batch`-th batch it is
    given exits its process, once per job (the marker file records that it happened)."""

    batch: int
    marker: str

    def maybe_crash(self, batches_seen: int) -> None:
        if batches_seen == self.batch and not os.path.exists(self.marker):
            with open(self.marker, "w") as out:
                out.write(f"{os.getpid()}\n")
            os._exit(1)


class EncodeBatch:
    """Callable class for `Dataset.map_batches`: fills each live item's vector and drops the pixels."""

    def __init__(self, model: str, device: str = "auto", dtype: str = "auto", batch_size: int = 64,
                 threads: int | None = None, crash: CrashOnBatch | None = None):
        from pipeline.encoder import ClipEncoder

        if threads:
            import torch

            torch.set_num_threads(threads)
        self.encoder = ClipEncoder(model, device=device, dtype=dtype, batch_size=batch_size)
        self.encoder.model  # load now: the first batch should not pay for it, and errors surface early
        self.crash, self.batches = crash, 0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.batches += 1
        if self.crash:
            self.crash.maybe_crash(self.batches)
        items = unpack(batch)
        encode(items, self.encoder)
        column = pack(items, (0,), np.uint8)["item"]
        return {"item": column}
