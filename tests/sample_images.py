"""Images generated on the fly for tests and benchmarks: varied, decodable, and a few broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_image(seed: int, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A distinct image per seed: a colour gradient with a shape, so vectors differ."""
    rng = np.random.default_rng(seed)
    width, height = size
    base = rng.integers(0, 256, size=3)
    ramp = np.linspace(0, 1, width)[None, :, None]
    pixels = (base * (1 - ramp) + rng.integers(0, 256, size=3) * ramp).repeat(height, axis=0)
    y0, x0 = rng.integers(0, height // 2), rng.integers(0, width // 2)
    pixels[y0:y0 + height // 3, x0:x0 + width // 3] = rng.integers(0, 256, size=3)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def write_photos(folder: str | Path, count: int, size: tuple[int, int] = (64, 48), start: int = 0) -> list[Path]:
    """`count` distinct images, alternating JPEG and PNG, named photo_0000.jpg..."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        ext, fmt = (".jpg", "JPEG") if i % 2 == 0 else (".png", "PNG")
        path = folder / f"photo_{i:04d}{ext}"
        make_image(i, size).save(path, fmt)
        paths.append(path)
    return paths


def write_broken_files(folder: str | Path) -> dict[str, Path]:
    """A few files with image extensions that are not valid images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": folder / "empty.jpg",
        "text": folder / "notes.jpg",
        "truncated": folder / "truncated.jpg",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image\n")
    full = folder / "_full.jpg"
    make_image(999, (128, 96)).save(full, "JPEG")
    files["truncated"].write_bytes(full.read_bytes()[:300])
    full.unlink()
    return files
