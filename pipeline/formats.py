"""The image formats the library accepts: one list, used by decoding, the folder walk, uploads,
query images and the dashboard's pickers. Adding a format is one entry here (and its decoder)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ImageFormat:
    name: str  # what Pillow reports and the `format` column stores
    extensions: tuple[str, ...]  # lower case, with the dot; the first is used for stored originals
    label: str  # how people name it


# The JPEG opener also yields MPO (multi-picture JPEG from phone cameras), stored as JPEG.
SUPPORTED_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat("JPEG", (".jpg", ".jpeg", ".jpe", ".mpo"), "JPEG"),
    ImageFormat("PNG", (".png",), "PNG"),
    ImageFormat("GIF", (".gif",), "GIF"),
    ImageFormat("BMP", (".bmp",), "BMP"),
    ImageFormat("WEBP", (".webp",), "WebP"),
    ImageFormat("TIFF", (".tif", ".tiff"), "TIFF"),
)

FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in SUPPORTED_FORMATS)
IMAGE_EXTENSIONS: frozenset[str] = frozenset(ext for f in SUPPORTED_FORMATS for ext in f.extensions)


def has_image_extension(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def stored_extension(format_name: str) -> str:
    """File extension (without the dot) for a stored original of this decoded format."""
    for f in SUPPORTED_FORMATS:
        if f.name == format_name:
            return f.extensions[0].lstrip(".")
    return "bin"


def upload_types() -> list[str]:
    """Extensions without the dot, for file pickers (st.file_uploader's `type`)."""
    return sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)


def formats_sentence() -> str:
    labels = [f.label for f in SUPPORTED_FORMATS]
    return ", ".join(labels[:-1]) + " or " + labels[-1]
