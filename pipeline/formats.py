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
    decoder: str = "pillow"  # "pillow" (Pillow's own or a registered opener) or "rawpy" (camera RAW)


# The JPEG opener also yields MPO (multi-picture JPEG from phone cameras), stored as JPEG.
# HEIF (iPhone HEIC) is read by pillow-heif's Pillow opener (pipeline/codecs.py), AVIF by Pillow 13.
# Camera RAW files go to rawpy by extension: most are TIFF containers that Pillow would misread
# as a small TIFF thumbnail.
SUPPORTED_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat("JPEG", (".jpg", ".jpeg", ".jpe", ".mpo"), "JPEG"),
    ImageFormat("PNG", (".png",), "PNG"),
    ImageFormat("GIF", (".gif",), "GIF"),
    ImageFormat("BMP", (".bmp",), "BMP"),
    ImageFormat("WEBP", (".webp",), "WebP"),
    ImageFormat("TIFF", (".tif", ".tiff"), "TIFF"),
    ImageFormat("HEIF", (".heic", ".heif", ".hif"), "HEIC/HEIF"),
    ImageFormat("AVIF", (".avif",), "AVIF"),
    ImageFormat("DNG", (".dng",), "DNG", "rawpy"),
    ImageFormat("CR2", (".cr2",), "Canon CR2", "rawpy"),
    ImageFormat("CR3", (".cr3",), "Canon CR3", "rawpy"),
    ImageFormat("NEF", (".nef", ".nrw"), "Nikon NEF", "rawpy"),
    ImageFormat("ARW", (".arw", ".srf", ".sr2"), "Sony ARW", "rawpy"),
    ImageFormat("RAF", (".raf",), "Fujifilm RAF", "rawpy"),
    ImageFormat("ORF", (".orf",), "Olympus ORF", "rawpy"),
    ImageFormat("RW2", (".rw2",), "Panasonic RW2", "rawpy"),
    ImageFormat("PEF", (".pef",), "Pentax PEF", "rawpy"),
    ImageFormat("SRW", (".srw",), "Samsung SRW", "rawpy"),
)

FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in SUPPORTED_FORMATS)
PILLOW_FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in SUPPORTED_FORMATS if f.decoder == "pillow")
RAW_FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in SUPPORTED_FORMATS if f.decoder == "rawpy")
IMAGE_EXTENSIONS: frozenset[str] = frozenset(ext for f in SUPPORTED_FORMATS for ext in f.extensions)


def has_image_extension(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def raw_format_of(path: str) -> str | None:
    """The camera RAW format a file name says it is ("NEF"), or None for every other name."""
    ext = os.path.splitext(path.split("?", 1)[0])[1].lower()
    for f in SUPPORTED_FORMATS:
        if f.decoder == "rawpy" and ext in f.extensions:
            return f.name
    return None


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
    labels = [f.label for f in SUPPORTED_FORMATS if f.decoder == "pillow"] + ["camera RAW"]
    return ", ".join(labels[:-1]) + " or " + labels[-1]
