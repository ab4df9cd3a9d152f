"""The library's own media folder: files the library creates itself (generated images), named by content.

A file's name is the sha256 of its bytes, the same id its row gets, so keeping an image twice
writes nothing new. The folder is $IMAGESEARCH_MEDIA, else `media/` beside a local database
directory (./data/lancedb -> ./data/media). A database in object storage needs IMAGESEARCH_MEDIA.
"""

from __future__ import annotations

import os
import tempfile

from pipeline.errors import BadInputError
from pipeline.images import content_id

MEDIA_ENV = "IMAGESEARCH_MEDIA"


def resolve_media_dir(db_uri: str, explicit: str | None = None) -> str:
    """Where kept media go: `explicit` (the IMAGESEARCH_MEDIA setting), else `<db dir>/../media` for a local db."""
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    if "://" in db_uri and not db_uri.startswith("file://"):
        raise BadInputError(f"the database {db_uri} is not a local directory; set {MEDIA_ENV} to a local folder for kept images")
    local = db_uri.removeprefix("file://")
    return os.path.join(os.path.dirname(os.path.abspath(os.path.expanduser(local).rstrip("/\\"))), "media")


def save_media(data: bytes, media_dir: str, ext: str) -> str:
    """Write `data` as `<media_dir>/<sha256>.<ext>` (atomically; a no-op when present); return its absolute path."""
    os.makedirs(media_dir, exist_ok=True)
    path = os.path.abspath(os.path.join(media_dir, f"{content_id(data)}.{ext.lower().lstrip('.')}"))
    if os.path.isfile(path) and os.path.getsize(path) == len(data):
        return path
    fd, tmp = tempfile.mkstemp(dir=media_dir, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)  # readers never see a half-written file
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
