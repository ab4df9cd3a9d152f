"""List the image files under folders: iteratively, in sorted order, symlinks kept inside the roots.

- Iterative (an explicit stack), so a folder nested thousands deep cannot overflow Python's
  recursion limit; a folder that cannot be listed (too long a path, no permission) is skipped with
  a warning naming it, and the rest of the walk goes on.
- A symbolic link is followed only when its target lies inside one of the walked roots, unless
  `follow_symlinks`: a link to `/` in a photo folder must not pull in the whole machine. Each real
  directory is listed once (device and inode remembered), so links never loop.
- `listable` is the one rule for which names the walk takes (an image extension, not hidden);
  `--prune` asks `would_list` so it only removes what this walk would have found.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Iterable, Iterator

from pipeline.formats import has_image_extension

log = logging.getLogger(__name__)


def listable(name: str) -> bool:
    return has_image_extension(name) and not name.startswith(".")


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def walk_images(
    folder: str,
    recursive: bool = True,
    follow_symlinks: bool = False,
    roots: Iterable[str] = (),
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[str]:
    """Paths (under `folder`, as written) of listable files, sorted within each folder.

    `roots` are the folders links may point into (default: `folder` itself)."""
    allowed = tuple(os.path.realpath(r) for r in (roots or [folder]))
    report = on_error or (lambda path, reason: log.warning("skipping folder %s: %s", path, reason))
    seen: set[tuple[int, int]] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            info = os.stat(current)
            if (info.st_dev, info.st_ino) in seen:  # reached again through a link: a loop
                continue
            seen.add((info.st_dev, info.st_ino))
            with os.scandir(current) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as error:
            report(current, error.strerror or str(error))
            continue
        subfolders = []
        for entry in entries:
            try:
                is_link = entry.is_symlink()
                if is_link and not follow_symlinks and os.path.exists(entry.path) \
                        and not _inside(os.path.realpath(entry.path), allowed):
                    log.debug("not following %s: it points outside %s", entry.path, ", ".join(allowed))
                    continue
                if entry.is_dir():  # follows links that passed the check above
                    subfolders.append(entry.path)
                elif listable(entry.name):
                    yield entry.path  # files, and dangling links (reading reports them)
            except OSError as error:
                report(entry.path, error.strerror or str(error))
        if recursive:
            stack.extend(reversed(subfolders))  # pop() then visits them in sorted order


def would_list(uri: str, root: str, recursive: bool) -> bool:
    """Whether walking `root` (a folder path ending in a separator) would list a file at `uri`."""
    if not uri.startswith(root):
        return False
    rest = uri[len(root):]
    if not recursive and "/" in rest:
        return False
    return listable(rest.rsplit("/", 1)[-1])
