"""CPU stage: read bytes, decode, validate, thumbnail and prepare uint8 pixels for the encoder.

The same `decode_image` and `ClipEncoder.prepare_images` as the in-process indexer, so both paths
write the same rows. Runs as Ray tasks; the encoder actors receive ready uint8 tensors.
Every input row comes out once, with status "ok", "skipped" (its content id is already in the
table) or "failed" (with the stage and a one-line reason), so the counts always add up.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from pipeline.images import DecodedImage, DecodeLimits, decode_image
from pipeline.job.read import read_bytes

_PREPARERS: dict[str, Any] = {}


def preparer(model: str):
    """A ClipEncoder used only for its processor (weights are never loaded on decode workers)."""
    if model not in _PREPARERS:
        from pipeline.encoder import ClipEncoder

        encoder = ClipEncoder(model, device="cpu")
        encoder.prepare_images([])  # load the processor now, outside the timed decode work
        _PREPARERS[model] = encoder
    return _PREPARERS[model]


def id_keys(ids) -> np.ndarray:
    """Sorted 64-bit prefixes of sha256 ids: 8 bytes per known row to ship to every worker.
    Two different images share a prefix with probability ~n/2^64 per lookup."""
    keys = np.fromiter((int(i[:16], 16) for i in ids if i), dtype=np.uint64)
    keys.sort()
    return keys


def is_known(image_id: str, known: np.ndarray) -> bool:
    if not image_id or known.size == 0:
        return False
    key = np.uint64(int(image_id[:16], 16))
    at = int(np.searchsorted(known, key))
    return at < known.size and known[at] == key


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
    except Exception:  # noqa: BLE001 - only used for the report
        return ""


def decode_batch(batch: dict[str, np.ndarray], *, model: str, limits: DecodeLimits | None = None,
                 known_ids: np.ndarray | None = None, s3_options: dict | None = None) -> dict[str, np.ndarray]:
    """{uri, size, mtime, description, tags} -> one output row per input row (see module docstring)."""
    limits = limits or DecodeLimits()
    known = known_ids if known_ids is not None else np.zeros(0, dtype=np.uint64)
    prep = preparer(model)
    draft = prep.image_size  # JPEG DCT scaling down to the model input: 2x faster decoding (images.py)
    uris = [str(u) for u in batch["uri"]]
    n = len(uris)
    out: dict[str, list] = {k: [] for k in ("status", "stage", "reason", "id", "file_name", "format",
                                             "width", "height", "file_size", "thumbnail",
                                             "metadata_json")}
    images: list = []
    read_s = decode_s = 0.0
    for uri in uris:
        t0 = time.perf_counter()
        data, error = read_bytes(uri, limits, s3_options)
        t1 = time.perf_counter()
        read_s += t1 - t0
        if data is None:
            decoded, stage = DecodedImage(uri=uri, image=None, error=error), "read"
        else:
            decoded, stage = decode_image(data, uri, limits, draft_size=draft), "decode"
            decode_s += time.perf_counter() - t1
        if decoded.ok and is_known(decoded.id, known):
            status, stage = "skipped", ""
        elif decoded.ok:
            status, stage = "ok", ""
            images.append(decoded.image)
        else:
            status = "failed"
        for key, value in (("status", status), ("stage", stage), ("reason", decoded.error or ""),
                           ("id", decoded.id), ("file_name", decoded.file_name), ("format", decoded.format),
                           ("width", decoded.width), ("height", decoded.height),
                           ("file_size", decoded.file_size), ("thumbnail", decoded.thumbnail),
                           ("metadata_json", json.dumps(decoded.metadata))):
            out[key].append(value)
    t0 = time.perf_counter()
    prepared = prep.prepare_images(images)
    pixels = np.zeros((n, *prepared.shape[1:]), dtype=prepared.dtype)
    ok = np.array([s == "ok" for s in out["status"]], dtype=bool)
    pixels[ok] = prepared
    decode_s += time.perf_counter() - t0
    result = {key: np.array(values, dtype=object) for key, values in out.items()
              if key not in ("width", "height", "file_size")}
    for key in ("width", "height", "file_size"):
        result[key] = np.array(out[key], dtype=np.int64)
    result.update(
        uri=np.array(uris, dtype=object),
        mtime=np.asarray(batch.get("mtime", np.full(n, np.nan)), dtype=np.float64),
        description=np.array([str(d) for d in batch.get("description", [""] * n)], dtype=object),
        tags=np.array([str(t) for t in batch.get("tags", ["[]"] * n)], dtype=object),
        pixels=pixels,
        node=np.array([_node_id()] * n, dtype=object),
        read_s=np.full(n, read_s / max(n, 1)),
        decode_s=np.full(n, decode_s / max(n, 1)),
    )
    return result


def tags_json(tags) -> str:
    return json.dumps(list(tags))
