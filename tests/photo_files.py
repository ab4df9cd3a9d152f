"""Photos with EXIF written by Pillow's Exif API (and pillow-heif for HEIC), for the photo tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

import pipeline.codecs  # noqa: F401 - registers pillow-heif, which also writes the HEIC fixtures

R = TiffImagePlugin.IFDRational
EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def dms(value: float) -> tuple:
    """Decimal degrees -> EXIF (degrees, minutes, seconds) rationals."""
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 100)
    return (R(degrees), R(minutes), R(seconds, 100))


def photo_exif(*, taken: str | None = None, offset: str | None = None, make: str | None = None,
               model: str | None = None, lat: float | None = None, lon: float | None = None,
               alt: float | None = None, orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if orientation is not None:
        exif[0x0112] = orientation
    sub = exif.get_ifd(EXIF_IFD)
    if taken is not None:
        sub[0x9003] = taken
    if offset is not None:
        sub[0x9011] = offset
    sub[0x829A] = R(1, 250)
    sub[0x829D] = R(28, 10)
    sub[0x8827] = 200
    sub[0x920A] = R(50)
    if lat is not None and lon is not None:
        gps = exif.get_ifd(GPS_IFD)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(lat)
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(lon)
        if alt is not None:
            gps[5], gps[6] = (b"\x00" if alt >= 0 else b"\x01"), R(round(abs(alt)))
    return exif


def picture(seed: int, size=(320, 240)) -> Image.Image:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)


def photo_bytes(fmt: str = "JPEG", seed: int = 0, exif: Image.Exif | bytes | None = None, size=(320, 240)) -> bytes:
    buffer = io.BytesIO()
    kwargs = {}
    if exif is not None:
        # pillow-heif takes the EXIF block as bytes; Pillow's own writers take either
        kwargs["exif"] = exif.tobytes() if isinstance(exif, Image.Exif) and fmt == "HEIF" else exif
    picture(seed, size).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def write_photo(path: Path, fmt: str = "JPEG", seed: int = 0, size=(320, 240), **exif) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo_bytes(fmt, seed, photo_exif(**exif) if exif else None, size))
    return path


def corrupt_exif_jpeg(seed: int = 9) -> bytes:
    """A JPEG whose APP1 Exif segment holds a broken TIFF structure (bad IFD offsets, junk counts)."""
    clean = photo_bytes("JPEG", seed)
    junk = b"Exif\x00\x00" + b"II*\x00" + b"\xff\xff\xff\x7f" + bytes(range(256)) * 4
    segment = b"\xff\xe1" + (len(junk) + 2).to_bytes(2, "big") + junk
    return clean[:2] + segment + clean[2:]  # right after SOI
