"""Running out of disk while writing: a clear error, and the table opens at its last good version."""

import os
import subprocess

import numpy as np
import pytest

from store import ImageLibrary, StorageFullError


@pytest.fixture
def small_filesystem(tmp_path):
    """A real 3 MB tmpfs; needs root (CI and these machines run as root)."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def rows(start, count, thumbnail_bytes):
    return [{"id": f"{start + i:064x}", "uri": f"/p/{start + i}.jpg", "thumbnail": os.urandom(thumbnail_bytes),
             "vector": np.ones(4)} for i in range(count)]


def test_a_full_disk_fails_the_write_clearly_and_keeps_the_last_good_version(small_filesystem):
    library = ImageLibrary(str(small_filesystem / "db"))
    library.ensure("m", 4)
    library.add(rows(0, 10, 1000))
    good_version = library.table.version

    with pytest.raises(StorageFullError, match="no space left on device") as caught:
        library.add(rows(100, 60, 100_000))  # 6 MB of thumbnails into 3 MB
    assert "\n" not in str(caught.value)

    reopened = ImageLibrary(str(small_filesystem / "db"))
    assert reopened.count() == 10
    assert reopened.table.version == good_version
    ids = {r["id"] for r in reopened.query(select=["id"], limit=100).to_pylist()}
    assert ids == {f"{i:064x}" for i in range(10)}
