"""Minimal DNG files written byte by byte (a TIFF container with DNG tags), for the RAW tests.

A real camera's DNG has more tags (calibration, opcodes, maker notes); these carry only what libraw
needs: a 16-bit RGGB Bayer mosaic, a colour matrix, and optionally an IFD0 JPEG preview with the raw
image in a SubIFD, as cameras and Adobe's converter write them.
"""

from __future__ import annotations

import struct

import numpy as np

BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, SRATIONAL: 8}


def _pack(kind: int, values) -> bytes:
    if kind == ASCII:
        return values.encode() + b"\x00"
    if kind == BYTE:
        return bytes(values)
    if kind == SHORT:
        return struct.pack(f"<{len(values)}H", *values)
    if kind == LONG:
        return struct.pack(f"<{len(values)}I", *values)
    fmt = "<2I" if kind == RATIONAL else "<2i"
    return b"".join(struct.pack(fmt, n, d) for n, d in values)


def _count(kind: int, values) -> int:
    return len(values) + 1 if kind == ASCII else len(values)


class _Tiff:
    """Little-endian TIFF assembled in one buffer: blobs first, IFDs appended with forward pointers."""

    def __init__(self):
        self.data = bytearray(b"II*\x00\x00\x00\x00\x00")

    def blob(self, payload: bytes) -> int:
        if len(self.data) % 2:
            self.data += b"\x00"
        offset = len(self.data)
        self.data += payload
        return offset

    def ifd(self, entries: list[tuple[int, int, object]]) -> int:
        entries = sorted(entries)
        resolved = []
        for tag, kind, values in entries:
            payload = _pack(kind, values)
            if len(payload) <= 4:
                resolved.append((tag, kind, _count(kind, values), payload.ljust(4, b"\x00")))
            else:
                resolved.append((tag, kind, _count(kind, values), struct.pack("<I", self.blob(payload))))
        body = struct.pack("<H", len(resolved))
        body += b"".join(struct.pack("<HHI", tag, kind, count) + value for tag, kind, count, value in resolved)
        return self.blob(body + b"\x00\x00\x00\x00")


def _raw_entries(tiff: _Tiff, width: int, height: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    mosaic = (rng.integers(1000, 60000, (height // 8, width // 8)).repeat(8, 0).repeat(8, 1)).astype("<u2")
    strip = tiff.blob(mosaic.tobytes())
    return [
        (254, LONG, [0]), (256, LONG, [width]), (257, LONG, [height]), (258, SHORT, [16]), (259, SHORT, [1]),
        (262, SHORT, [32803]), (273, LONG, [strip]), (277, SHORT, [1]), (278, LONG, [height]),
        (279, LONG, [mosaic.nbytes]), (284, SHORT, [1]), (33421, SHORT, [2, 2]), (33422, BYTE, [0, 1, 1, 2]),
        (50717, LONG, [65535]),
    ]


def dng_bytes(width: int = 256, height: int = 192, *, preview_jpeg: bytes | None = None,
              preview_size: tuple[int, int] = (0, 0), make: str = "Testcam", model: str = "DNG-1",
              taken: str | None = "2021:05:06 07:08:09", orientation: int = 1, seed: int = 0) -> bytes:
    tiff = _Tiff()
    common = [
        (271, ASCII, make), (272, ASCII, model), (274, SHORT, [orientation]),
        (50706, BYTE, [1, 4, 0, 0]), (50708, ASCII, f"{make} {model}"),
        (50721, SRATIONAL, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]),
        (50728, RATIONAL, [(1, 1), (1, 1), (1, 1)]), (50778, SHORT, [21]),
    ]
    if taken:
        exif = tiff.ifd([(36867, ASCII, taken)])
        common.append((34665, LONG, [exif]))
    if preview_jpeg is None:
        ifd0 = tiff.ifd(common + _raw_entries(tiff, width, height, seed))
    else:
        raw = tiff.ifd(_raw_entries(tiff, width, height, seed))
        strip = tiff.blob(preview_jpeg)
        pw, ph = preview_size
        ifd0 = tiff.ifd(common + [
            (254, LONG, [1]), (256, LONG, [pw]), (257, LONG, [ph]), (258, SHORT, [8, 8, 8]), (259, SHORT, [7]),
            (262, SHORT, [6]), (273, LONG, [strip]), (277, SHORT, [3]), (278, LONG, [ph]),
            (279, LONG, [len(preview_jpeg)]), (330, LONG, [raw]),
        ])
    tiff.data[4:8] = struct.pack("<I", ifd0)
    return bytes(tiff.data)
