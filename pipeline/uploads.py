"""Index files handed over by a person (the dashboard's upload): save by content hash, decode,
encode, add. Each file gets its own outcome; one bad file never costs the others.

The name a browser sends is only metadata: the stored original is `<media>/<sha256>.<ext>`, with the
extension taken from the decoded format, so `../../x.jpg` can neither escape the media folder nor
overwrite another file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from pipeline.formats import stored_extension
from pipeline.images import DecodeLimits, decode_image, file_name_of
from pipeline.media import resolve_media_dir, save_media
from pipeline.rows import image_row

if TYPE_CHECKING:
    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary


INDEXED, DUPLICATE, REJECTED = "indexed", "already in library", "rejected"


@dataclass(frozen=True)
class UploadOutcome:
    name: str  # the file name as the person gave it (metadata only)
    status: str  # INDEXED, DUPLICATE or REJECTED
    reason: str = ""
    id: str = ""
    uri: str = ""


def _safe_name(name: str) -> str:
    base = file_name_of(name.replace("\\", "/")) or "upload"
    return "".join(ch for ch in base if ch.isprintable())[:200] or "upload"


def index_uploads(
    library: "ImageLibrary",
    encoder: "ClipEncoder",
    files: Sequence[tuple[str, bytes]],
    *,
    description: str = "",
    tags: Sequence[str] = (),
    media: str | None = None,
    limits: DecodeLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[UploadOutcome]:
    """Index (name, bytes) pairs into `library`; returns one outcome per file, in order.

    Rows are written in one commit at the end, so the new images are searchable as soon as this
    returns. `progress(done, total)` is called after each decoded file and once after the write.
    """
    limits = limits or DecodeLimits.from_env()
    folder = media or resolve_media_dir(library.db_uri)
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    total = len(files)
    outcomes: list[UploadOutcome | None] = [None] * total
    decoded = []
    for i, (name, data) in enumerate(files):
        shown = _safe_name(name)
        image = decode_image(data, uri=shown, limits=limits, draft_size=encoder.image_size)
        if not image.ok:
            outcomes[i] = UploadOutcome(shown, REJECTED, image.error or "not an image", image.id)
        else:
            decoded.append((i, shown, data, image))
        if progress:
            progress(i + 1, total + 1)

    known = library.existing_ids([image.id for *_, image in decoded])
    fresh, seen = [], set()
    for i, shown, data, image in decoded:
        if image.id in known or image.id in seen:
            outcomes[i] = UploadOutcome(shown, DUPLICATE, "same bytes as an image already indexed", image.id)
        else:
            seen.add(image.id)
            fresh.append((i, shown, data, image))

    rows = []
    if fresh:
        vectors = encoder.encode_images([image.image for *_, image in fresh])
        for (i, shown, data, image), vector in zip(fresh, vectors):
            try:
                path = save_media(data, folder, stored_extension(image.format))
            except OSError as error:
                outcomes[i] = UploadOutcome(shown, REJECTED, f"cannot store the file: {error.strerror or error}", image.id)
                continue
            row = image_row(image, vector, description=description, tags=list(tags))
            row.update(uri=path, file_name=shown)
            rows.append(row)
            outcomes[i] = UploadOutcome(shown, INDEXED, "", image.id, path)
    if rows:
        library.add(rows)
    if progress:
        progress(total + 1, total + 1)
    return [o for o in outcomes if o is not None]
