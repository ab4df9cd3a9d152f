"""Bytes handed to the library (uploads, generated images): decode, encode, keep the original in the
media folder, add. One outcome per file; one bad file never costs the others.

The name a person gives is only metadata: the original is stored as `<media>/<sha256>.<ext>`, with
the extension of the decoded format, so `../../x.jpg` can neither escape the media folder nor
overwrite another file. Files are streamed: each is decoded, prepared for the model and its
full-size pixels dropped before the next, so memory does not grow with the number of files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pipeline.formats import stored_extension
from pipeline.images import DecodeLimits, file_name_of
from pipeline.ingest.item import SKIPPED, Item
from pipeline.ingest.local import run_local
from pipeline.ingest.report import IndexReport
from pipeline.ingest.write import RowWriter
from pipeline.media import save_media
from store import ImageLibrary

INDEXED, DUPLICATE, REJECTED = "indexed", "already in library", "rejected"


@dataclass(frozen=True)
class HandedFile:
    name: str  # as the person (or the generator) named it: metadata only
    data: bytes
    description: str = ""
    tags: tuple[str, ...] = ()
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class FileOutcome:
    name: str  # the (sanitised) name the file was handed with
    status: str  # INDEXED, DUPLICATE or REJECTED
    reason: str = ""
    id: str = ""
    uri: str = ""  # where the original is kept


def safe_name(name: str) -> str:
    base = file_name_of(name.replace("\\", "/")) or "upload"
    return "".join(ch for ch in base if ch.isprintable())[:200] or "upload"


def _keep_originals(media_dir: str, originals: dict[int, bytes]) -> Callable[[Sequence[Item]], None]:
    """After encoding: store each encoded item's bytes by content hash; its uri becomes that path."""

    def keep(items: Sequence[Item]) -> None:
        for item in items:
            data = originals.pop(id(item), None)
            if not item.ok or data is None:
                continue
            try:
                path = save_media(data, media_dir, stored_extension(item.decoded.format))
            except OSError as error:
                item.fail("write", f"cannot store the file: {error.strerror or error}")
                continue
            item.uri = item.decoded.uri = path
            item.mtime = os.stat(path).st_mtime  # a later `index` of the media folder skips it unread

    return keep


def ingest_files(
    library: ImageLibrary,
    encoder,
    files: Sequence[HandedFile],
    *,
    media_dir: str,
    limits: DecodeLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[FileOutcome], IndexReport]:
    """Index handed files into `library`; returns one outcome per file (in order) and the report.

    Rows are written in one commit at the end, so the new images are searchable as soon as this
    returns. `progress(done, total)` is called after each decoded file and once after the write."""
    limits = limits or DecodeLimits()
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    total = len(files)
    items = [Item(uri=safe_name(f.name), name=safe_name(f.name), data=f.data, description=f.description,
                  tags=tuple(f.tags), attributes=f.attributes) for f in files]
    originals = {id(item): f.data for item, f in zip(items, files)}  # kept until stored, then dropped
    report = IndexReport(seen=total)
    writer = RowWriter(library, report, commit_every=max(total, 1))
    done = [0]

    def loaded(n: int) -> None:
        done[0] += n
        if progress:
            progress(done[0], total + 1)

    run_local(writer, encoder, items, known_among=library.existing_ids, limits=limits,
              batch_size=getattr(encoder, "batch_size", 32), threads=1,
              after_encode=_keep_originals(media_dir, originals), progress=loaded)
    writer.close()
    if progress:
        progress(total + 1, total + 1)
    return [_outcome(item) for item in items], report


def _outcome(item: Item) -> FileOutcome:
    name, image_id = item.name or "", item.id
    if item.status == SKIPPED:
        return FileOutcome(name, DUPLICATE, item.reason, image_id, "")
    if not item.ok:
        return FileOutcome(name, REJECTED, item.reason, image_id, "")
    return FileOutcome(name, INDEXED, "", image_id, item.uri)
