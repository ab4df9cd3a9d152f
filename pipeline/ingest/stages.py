"""The ingestion stages: plain functions over Items, run by both executors (local.py in process,
pipeline/job/ on Ray Data) and by every entry point (index, upload, generated images).

    load(item, preparer, limits)   read the bytes (unless in hand), decode, validate, thumbnail and
                                   prepare the model's input pixels; the full-size image is dropped
    drop_known(items, known_among) skip content already in the library, and repeats within the batch
    encode(items, encoder)         one forward pass per batch; a failing batch is retried image by
                                   image, so one bad image fails alone

Each stage either moves an Item on or gives it its final status with a one-line reason.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator, Protocol, Sequence, TypeVar

import numpy as np

from pipeline.images import DecodedImage, DecodeLimits, decode_image, file_name_of
from pipeline.ingest.item import Item
from pipeline.ingest.read import read_bytes
from store.errors import one_line

log = logging.getLogger(__name__)
T = TypeVar("T")


class Preparer(Protocol):
    """What `load` needs of an encoder: its input size and its CPU-side pixel preparation."""

    image_size: int

    def prepare_images(self, images: list) -> np.ndarray: ...


class Encoder(Protocol):
    dim: int

    def encode_prepared(self, pixels: np.ndarray) -> np.ndarray: ...


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _add_time(item: Item, stage: str, since: float) -> float:
    now = time.perf_counter()
    item.seconds[stage] = item.seconds.get(stage, 0.0) + now - since
    return now


def load(item: Item, preparer: Preparer, limits: DecodeLimits, s3_options: dict | None = None) -> Item:
    """Read, decode and prepare one item; never raises for bad input."""
    started = time.perf_counter()
    data, item.data = item.data, None
    if data is None:
        data, error = read_bytes(item.uri, limits, s3_options)
        started = _add_time(item, "read", started)
        if data is None:
            item.decoded = DecodedImage(uri=item.uri, image=None, file_name=file_name_of(item.uri))
            item.fail("read", error or "cannot read the file")
            return item
    # JPEG DCT scaling down to the model input halves decode time (see images.decode_image).
    decoded = decode_image(data, item.uri, limits, draft_size=preparer.image_size)
    del data
    item.decoded = decoded
    if not decoded.ok:
        item.fail("decode", decoded.error or "not an image")
        _add_time(item, "decode", started)
        return item
    try:
        item.pixels = preparer.prepare_images([decoded.image])[0]
    except Exception as error:  # noqa: BLE001 - one odd image must not stop the batch
        item.fail("decode", f"cannot prepare the image for the model: {one_line(error)}")
    finally:
        decoded.image = None  # keep the model input and the thumbnail, not the full-size picture
    _add_time(item, "decode", started)
    return item


def drop_known(items: Sequence[Item], known_among: Callable[[list[str]], set[str]]) -> None:
    """Skip items whose content is already stored, or repeated earlier in this batch."""
    live = [item for item in items if item.ok]
    known = known_among([item.id for item in live]) if live else set()
    seen: set[str] = set()
    for item in live:
        if item.id in known:
            item.skip("known", "same bytes as an image already in the library")
        elif item.id in seen:
            item.skip("known", "same bytes as another file in this batch")
        else:
            seen.add(item.id)


def encode(items: Sequence[Item], encoder: Encoder) -> None:
    """Fill `vector` for every live item: one forward pass, or one per image if the batch fails."""
    live = [item for item in items if item.ok]
    if not live:
        return
    started = time.perf_counter()
    try:
        vectors: list = list(encoder.encode_prepared(np.stack([item.pixels for item in live])))
    except Exception as error:  # noqa: BLE001 - isolate the culprit below
        log.warning("batch encode failed (%s); retrying images one by one", one_line(error))
        vectors = []
        for item in live:
            try:
                vectors.append(encoder.encode_prepared(item.pixels[None])[0])
            except Exception as one:  # noqa: BLE001
                item.fail("encode", one_line(one))
                vectors.append(None)
    share = (time.perf_counter() - started) / len(live)
    for item, vector in zip(live, vectors):
        item.pixels = None
        if vector is not None:
            item.vector = np.asarray(vector, dtype=np.float32)
            item.seconds["encode"] = item.seconds.get("encode", 0.0) + share
