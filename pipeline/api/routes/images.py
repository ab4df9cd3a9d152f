"""One image: metadata, thumbnail, original, delete and restore; and POST /upload of many files."""

from __future__ import annotations

import mimetypes
import os
import re

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from pipeline.api.context import ApiContext, access, context_of, json_document
from pipeline.api.errors import ApiError
from pipeline.searching import UnknownImageError, resolve_id
from store.filters import parse_tags
from store.library import id_filter

router = APIRouter(tags=["images"])
FULL_ID = re.compile(r"[0-9a-f]{64}")
RESTORE_LOOKBACK = 200  # versions searched, newest first, for a deleted image's last copy


def _row(context: ApiContext, image_id: str, with_thumbnail: bool = False) -> dict:
    row = context.library.get(resolve_id(context.library, image_id), with_thumbnail=with_thumbnail)
    if row is None:  # deleted between the id lookup and the read
        raise UnknownImageError(f"no image with id {image_id} in the library")
    return row


def _full_id(image_id: str) -> str:
    if not FULL_ID.fullmatch(image_id):
        raise ApiError(400, f"give the image's full id (64 lower-case hex characters), got {image_id[:80]!r}")
    return image_id


@router.get("/images/{image_id}", dependencies=[access("read")])
def image_metadata(request: Request, image_id: str):
    """The row's metadata (no thumbnail, no vector); `image_id` may be a unique prefix."""
    return json_document(_row(context_of(request), image_id))


@router.get("/images/{image_id}/thumbnail", dependencies=[access("read")],
            responses={200: {"content": {"image/jpeg": {}}}})
def image_thumbnail(request: Request, image_id: str):
    row = _row(context_of(request), image_id, with_thumbnail=True)
    if not row.get("thumbnail"):
        raise ApiError(404, f"image {row['id']} has no thumbnail")
    # The id is the content hash: a thumbnail never changes for it.
    return Response(row["thumbnail"], media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})


def allowed_original(context: ApiContext, uri: str) -> str:
    """The real path of a row's original when it lies inside a served folder; 403 otherwise.

    Symlinks and `..` are resolved first, so neither can lead outside the folders."""
    if "://" in uri and not uri.startswith("file://"):
        raise ApiError(403, "this image's original is not a local file; the server does not fetch remote originals")
    path = os.path.realpath(uri.removeprefix("file://"))
    media = context.media_dir()
    for root in (*context.settings.roots, *([media] if media else [])):
        real_root = os.path.realpath(root)
        if os.path.commonpath([real_root, path]) == real_root:
            return path
    raise ApiError(403, "this image's original is outside the folders this server may serve "
                        "(the media folder and IMAGESEARCH_API_ROOTS)")


@router.get("/images/{image_id}/original", dependencies=[access("read")],
            responses={200: {"content": {"image/*": {}}}})
def image_original(request: Request, image_id: str):
    """The original file, only from the media folder or IMAGESEARCH_API_ROOTS."""
    context = context_of(request)
    row = _row(context, image_id)
    path = allowed_original(context, row["uri"] or "")
    if not os.path.isfile(path):
        raise ApiError(404, f"the original of image {row['id']} is no longer on disk")
    media_type = mimetypes.guess_type(path)[0] or f"image/{(row.get('format') or 'octet-stream').lower()}"
    return FileResponse(path, media_type=media_type, filename=row.get("file_name") or None,
                        content_disposition_type="inline")


@router.delete("/images/{image_id}", dependencies=[access("write")])
def delete_image(request: Request, image_id: str):
    """Delete one image; the answer's `restore_version` undoes it (POST /images/{id}/restore)."""
    library = context_of(request).library
    image_id = _full_id(image_id)
    version = int(library.table.version)
    if library.delete(ids=[image_id]) == 0:
        raise UnknownImageError(f"no image with id {image_id} in the library")
    return json_document({"deleted": 1, "id": image_id, "restore_version": version})


class RestoreIn(BaseModel):
    version: int | None = None  # default: the newest version that still had the image


def last_version_with(library, image_id: str) -> int | None:
    dataset = library.table.to_lance()
    for entry in sorted(library.table.list_versions(), key=lambda e: -e["version"])[:RESTORE_LOOKBACK]:
        try:
            if dataset.checkout_version(entry["version"]).count_rows(filter=id_filter([image_id])):
                return int(entry["version"])
        except (OSError, ValueError, RuntimeError):  # cleaned-up versions cannot be opened
            continue
    return None


@router.post("/images/{image_id}/restore", dependencies=[access("write")])
def restore_image(request: Request, image_id: str, body: RestoreIn | None = None):
    """Bring a deleted image back from a version that had it; every other change since stays."""
    library = context_of(request).library
    image_id = _full_id(image_id)
    if library.existing_ids([image_id]):
        return json_document({"restored": 0, "id": image_id, "reason": "already in the library"})
    version = body.version if body and body.version is not None else last_version_with(library, image_id)
    if version is None:
        raise UnknownImageError(f"image {image_id} is in none of the last {RESTORE_LOOKBACK} versions")
    restored = library.undelete(version, ids=[image_id])
    if not restored:
        raise UnknownImageError(f"image {image_id} was not in version {version}")
    return json_document({"restored": restored, "id": image_id, "version": version})


@router.post("/upload", dependencies=[access("write")])
def upload(request: Request, files: list[UploadFile] = File(..., description="image files, repeatable"),
           description: str = Form(""), tags: str = Form("", description="comma-separated")):
    """Index uploaded files: one outcome per file (indexed, already in library, rejected with the reason)."""
    from pipeline.uploads import DUPLICATE, INDEXED, REJECTED, index_uploads

    context = context_of(request)
    if len(files) > context.settings.max_files:
        raise ApiError(413, f"at most {context.settings.max_files} files per upload, got {len(files)}")
    limit = context.settings.limits.max_file_bytes
    # One byte over the decoding limit is enough for the decoder to reject the file with its reason.
    named = [(f.filename or "upload", f.file.read(limit + 1)) for f in files]
    outcomes = index_uploads(context.library, context.encoder(), named, description=description,
                             tags=parse_tags(tags), media=context.media_dir(), limits=context.settings.limits)
    counts = {status: sum(o.status == status for o in outcomes) for status in (INDEXED, DUPLICATE, REJECTED)}
    return json_document({"outcomes": [o.__dict__ for o in outcomes], "indexed": counts[INDEXED],
                          "duplicates": counts[DUPLICATE], "rejected": counts[REJECTED]})
