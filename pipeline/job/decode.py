"""CPU stage of the Ray job: the core's `load` and `drop_known` over a block of listed sources.

Runs as Ray tasks; the encoder actors receive ready uint8 tensors. Every input row comes out once
as an Item (status ok, skipped or failed, with the stage and a one-line reason), so the counts
always add up.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from pipeline.images import DecodeLimits
from pipeline.ingest.item import Item
from pipeline.ingest.known import KnownIds
from pipeline.ingest.stages import drop_known, load

_PREPARERS: dict[str, Any] = {}


def preparer(model: str):
    """A ClipEncoder used only for its processor (weights are never loaded on decode workers)."""
    if model not in _PREPARERS:
        from pipeline.encoder import ClipEncoder

        encoder = ClipEncoder(model, device="cpu")
        encoder.prepare_images([])  # load the processor now, outside the timed decode work
        _PREPARERS[model] = encoder
    return _PREPARERS[model]


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:  # noqa: BLE001 - only used for the report
        return ""


def items_of(batch: dict[str, np.ndarray]) -> list[Item]:
    """The job's input block {uri, mtime, description, tags (JSON)} as Items."""
    n = len(batch["uri"])
    mtimes = np.asarray(batch.get("mtime", np.full(n, np.nan)), dtype=np.float64)
    descriptions = batch.get("description", [""] * n)
    tags = batch.get("tags", ["[]"] * n)
    return [Item(uri=str(batch["uri"][i]), mtime=None if np.isnan(mtimes[i]) else float(mtimes[i]),
                 description=str(descriptions[i]), tags=tuple(json.loads(str(tags[i]) or "[]")))
            for i in range(n)]


def pack(items: list[Item], pixel_shape: tuple[int, ...], dtype) -> dict[str, np.ndarray]:
    """Items -> a Ray batch: the items (without pixels) and their pixels as one tensor column."""
    pixels = np.zeros((len(items), *pixel_shape), dtype=dtype)
    for i, item in enumerate(items):
        if item.pixels is not None:
            pixels[i] = item.pixels
            item.pixels = None
    column = np.empty(len(items), dtype=object)
    column[:] = items
    return {"item": column, "pixels": pixels}


def unpack(batch: dict[str, np.ndarray]) -> list[Item]:
    items = list(batch["item"])
    if "pixels" in batch:
        for item, pixels in zip(items, batch["pixels"]):
            if item.ok:
                item.pixels = pixels
    return items


def decode_batch(batch: dict[str, np.ndarray], *, model: str, limits: DecodeLimits | None = None,
                 known_ids: KnownIds | None = None, s3_options: dict | None = None) -> dict[str, np.ndarray]:
    limits = limits or DecodeLimits()
    known = known_ids if known_ids is not None else KnownIds()
    prep = preparer(model)
    node = _node_id()
    items = items_of(batch)
    for item in items:
        load(item, prep, limits, s3_options)
        item.node = node
    drop_known(items, known.among)
    sample = prep.prepare_images([])
    return pack(items, sample.shape[1:], sample.dtype)
