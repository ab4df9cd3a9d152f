"""Several dashboard users upload and delete while a bulk job appends from another process:
no write is lost, commit conflicts are retried, and the final set of rows is exact."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from store import ImageLibrary

ROOT = Path(__file__).resolve().parents[1]
DIM = 4

BULK_WRITER = """
import sys, numpy as np
from store import ImageLibrary
library = ImageLibrary(sys.argv[1])
for start in range(10_000, 10_500, 100):
    library.add([{"id": f"{i:064x}", "uri": f"/bulk/{i}.jpg", "vector": np.ones(4)} for i in range(start, start + 100)])
"""


def rows(ids):
    return [{"id": f"{i:064x}", "uri": f"/p/{i}.jpg", "vector": np.random.default_rng(i).normal(size=DIM)} for i in ids]


@pytest.mark.slow
def test_concurrent_uploads_deletes_and_a_bulk_job_lose_nothing(tmp_path):
    db = str(tmp_path / "db")
    shared = ImageLibrary(db)  # the dashboard's one cached handle, shared by every session
    shared.ensure("m", DIM)
    shared.add(rows(range(100)))

    bulk = subprocess.Popen([sys.executable, "-c", BULK_WRITER, db], cwd=ROOT)
    errors: list[BaseException] = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as error:  # surfaced by the assertion below
                errors.append(error)
        return threading.Thread(target=run)

    def uploader(first):
        def upload():
            for start in range(first, first + 30, 3):
                shared.add(rows(range(start, start + 3)))
        return upload

    def deleter():
        for i in range(50):
            shared.delete(ids=[f"{i:064x}"])

    threads = [guarded(uploader(1000 + 100 * n)) for n in range(3)] + [guarded(deleter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert bulk.wait(timeout=300) == 0
    assert not errors, errors

    expected = {f"{i:064x}" for i in range(50, 100)}
    expected |= {f"{i:064x}" for n in range(3) for i in range(1000 + 100 * n, 1030 + 100 * n)}
    expected |= {f"{i:064x}" for i in range(10_000, 10_500)}
    fresh = ImageLibrary(db)
    stored = fresh.query(select=["id"], limit=None).column("id").to_pylist()
    assert len(stored) == len(set(stored)), "duplicate rows"
    assert set(stored) == expected


SAME_IDS_WRITER = """
import sys, numpy as np
from store import ImageLibrary
library = ImageLibrary(sys.argv[1])
library.ensure("m", 4)
for start in range(0, 200, 10):
    library.add([{"id": f"{i:064x}", "uri": f"/same/{i}.jpg", "vector": np.ones(4)} for i in range(start, start + 10)])
"""


@pytest.mark.slow
def test_writers_racing_to_insert_the_same_images_store_each_once(tmp_path):
    """Two users uploading the same photos at once, or a job rerun beside a running one."""
    db = str(tmp_path / "db")
    writers = [subprocess.Popen([sys.executable, "-c", SAME_IDS_WRITER, db], cwd=ROOT) for _ in range(3)]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0]
    stored = ImageLibrary(db).query(select=["id"], limit=None).column("id").to_pylist()
    assert len(stored) == 200 and len(set(stored)) == 200
