"""Tell a damaged table from a bad request.

A truncated or deleted data file makes every read fail with an I/O error deep in Lance ("Invalid
range 0..3695 for object of size 1847"), which callers would otherwise report as an invalid filter
or a traceback. Lance records each data file's size in the manifest, so after any failed read we
compare them with the files on disk: a mismatch is a CorruptTableError naming the table's path, the
damaged file and the newest version whose files are all intact (`restore` it, or index again).
Only local tables are checked; on object stores the original error stands.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from store.errors import CorruptTableError
from store.redact import redact_uri

if TYPE_CHECKING:
    from store.library import ImageLibrary


def _damaged_file(dataset, data_dir: str, sizes: dict[str, int | None]) -> str | None:
    """The first data file of this dataset version that is missing or not its recorded size."""
    for fragment in dataset.get_fragments():
        for data_file in fragment.data_files():
            name = data_file.path
            if name not in sizes:
                try:
                    sizes[name] = os.path.getsize(os.path.join(data_dir, name))
                except OSError:
                    sizes[name] = None
            expected = getattr(data_file, "file_size_bytes", None)
            if sizes[name] is None or (expected and sizes[name] != expected):
                return name
    return None


def raise_if_corrupt(library: "ImageLibrary", error: BaseException | None = None) -> None:
    """Raise CorruptTableError if the table's current files are damaged; otherwise return."""
    if "://" in library.db_uri:
        return
    path = os.path.join(library.db_uri, f"{library.table_name}.lance")
    data_dir = os.path.join(path, "data")
    try:
        dataset = library.table.to_lance()
        sizes: dict[str, int | None] = {}
        damaged = _damaged_file(dataset, data_dir, sizes)
        if damaged is None:
            return
        good = None
        for entry in sorted(dataset.versions(), key=lambda v: v["version"], reverse=True):
            if entry["version"] >= dataset.version:
                continue
            try:
                if _damaged_file(dataset.checkout_version(entry["version"]), data_dir, sizes) is None:
                    good = entry["version"]
                    break
            except Exception:  # noqa: BLE001 - a cleaned-up version cannot be opened
                continue
    except CorruptTableError:
        raise
    except Exception:  # noqa: BLE001 - the check itself failed: leave the original error
        return
    hint = (f"the last good version is {good}: restore it (dashboard History, or ImageLibrary.restore({good})) "
            "and index again" if good is not None else "no earlier version is intact: index again into a new table")
    raise CorruptTableError(
        f"table '{library.table_name}' at {redact_uri(path)} is corrupt: data file data/{damaged} is "
        f"missing or truncated; {hint}"
    ) from None
