"""Turn what the user typed (files, folders, globs) into a stream of image sources."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterable, Iterator

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".mpo"}
)


@dataclass(frozen=True)
class Source:
    uri: str
    size: int | None = None
    mtime: float | None = None  # seconds since the epoch
    description: str = ""
    tags: tuple[str, ...] = ()


class SourceError(ValueError):
    """A path or pattern the user gave that names nothing usable."""


def has_image_extension(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _source_for(path: str) -> Source:
    stat = os.stat(path)
    return Source(uri=os.path.abspath(path), size=stat.st_size, mtime=stat.st_mtime)


def _walk(folder: str, recursive: bool) -> Iterator[str]:
    """Image files under a folder, sorted, following symlinks but never looping."""
    seen_dirs: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        stat = os.stat(root)
        if (stat.st_dev, stat.st_ino) in seen_dirs:  # a symlink loop: do not descend again
            dirs[:] = []
            continue
        seen_dirs.add((stat.st_dev, stat.st_ino))
        dirs.sort()
        if not recursive:
            dirs[:] = []
        for name in sorted(files):
            if has_image_extension(name) and not name.startswith("."):
                yield os.path.join(root, name)


def local_sources(paths: Iterable[str], recursive: bool = True) -> Iterator[Source]:
    """Files are taken as given (even without an image extension: decoding will judge them);
    folders are walked for image extensions; anything with glob characters is expanded."""
    for path in paths:
        if os.path.isdir(path):
            for file_path in _walk(path, recursive):
                try:
                    yield _source_for(file_path)
                except OSError:
                    yield Source(uri=os.path.abspath(file_path))  # decoding reports the reason
        elif os.path.exists(path) or os.path.islink(path):
            try:
                yield _source_for(path)
            except OSError:
                yield Source(uri=os.path.abspath(path))
        elif glob.has_magic(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise SourceError(f"no files match {path!r}")
            for match in matches:
                if os.path.isfile(match) and has_image_extension(match):
                    yield _source_for(match)
        else:
            raise SourceError(f"no such file or folder: {path}")
