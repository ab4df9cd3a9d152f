"""A folder of awkward and hostile inputs, each with what the indexer must do with it.

`write_hostile_corpus(folder)` returns {file name: expected}, where expected is "indexed" or the
start of a failure reason. Files are generated here; nothing binary is committed.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.sample_images import make_image


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _save(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    return _save(make_image(101, (80, 40)), "JPEG", exif=exif.tobytes())


def _corrupt_exif_jpeg() -> bytes:
    data = bytearray(_exif_rotated_jpeg())
    start = data.find(b"Exif\x00\x00")
    data[start + 6:start + 20] = b"\xff" * 14  # garbage TIFF header inside the APP1 segment
    return bytes(data)


def write_hostile_corpus(folder: str | Path) -> dict[str, str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    def put(name: str, data: bytes, outcome: str) -> Path:
        path = folder / name
        path.write_bytes(data)
        expected[name] = outcome
        return path

    rgb = make_image(100, (64, 48))
    put("zero.jpg", b"", "empty file")
    put("truncated.jpg", _save(make_image(102, (200, 150)), "JPEG")[:400], "truncated or corrupt")
    put("notes.jpg", b"shopping list: milk, eggs\n" * 20, "not an image")
    put("page.jpg", b"<!DOCTYPE html><html><body>hello</body></html>", "not an image")
    put("drawing.svg.jpg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "unsupported format SVG")
    put("bomb.png", _png_bomb(30000, 30000), "image too large")
    put("cmyk.jpg", _save(rgb.convert("CMYK"), "JPEG"), "indexed")
    gradient = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    put("sixteen-bit.png", _save(Image.frombytes("I;16", (64, 48), gradient.tobytes()), "PNG"), "indexed")
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
    put("palette-transparent.png", _save(palette, "PNG", transparency=0), "indexed")
    frames = [make_image(110 + i, (32, 32)) for i in range(3)]
    put("animated.gif", _save(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0), "indexed")
    put("exif-rotated.jpg", _exif_rotated_jpeg(), "indexed")
    put("corrupt-exif.jpg", _corrupt_exif_jpeg(), "indexed")
    put("grey.png", _save(rgb.convert("L"), "PNG"), "indexed")
    put("one-pixel.png", _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), "indexed")
    put("name with spaces 'and' \"quotes\".jpg", _save(make_image(120), "JPEG"), "indexed")
    put("ñandú-写真-фото.png", _save(make_image(121), "PNG"), "indexed")
    original = put("original.jpg", _save(make_image(122), "JPEG"), "indexed")
    put("same bytes other name.jpg", original.read_bytes(), "skipped")  # one row per content

    unreadable = put("unreadable.jpg", _save(make_image(123), "JPEG"), "indexed")
    os.chmod(unreadable, 0)
    if not os.access(unreadable, os.R_OK):  # root reads it anyway; anyone else cannot
        expected["unreadable.jpg"] = "permission denied"
    os.symlink(folder / "missing-target.jpg", folder / "dangling-link.jpg")
    expected["dangling-link.jpg"] = "file not found"
    loop = folder / "loop"
    loop.mkdir()
    os.symlink(folder, loop / "back-to-top")  # a symlink loop: must not recurse forever
    return expected
