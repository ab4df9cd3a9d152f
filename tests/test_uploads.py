"""Uploads: stored by content hash, decoded, encoded and added, with one outcome per file."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from pipeline.encoder import ClipEncoder
from pipeline.settings import Settings
from pipeline.uploads import DUPLICATE, INDEXED, REJECTED, index_uploads
from store import ImageLibrary
from tests.dashboard_support import jpeg_bytes


@pytest.fixture(scope="module")
def encoder(tiny_clip_dir):
    return ClipEncoder(tiny_clip_dir, device="cpu")


def test_each_file_gets_an_outcome_and_new_images_are_searchable_at_once(encoder, tmp_path):
    library = ImageLibrary(str(tmp_path / "db"))
    photo = jpeg_bytes(1)
    files = [("beach.jpg", photo), ("copy.jpg", photo), ("notes.jpg", b"not an image"), ("empty.png", b"")]
    media = tmp_path / "media"
    outcomes = index_uploads(library, encoder, files, description="holiday", tags=["beach", "2024"], media=str(media))

    assert [(o.name, o.status) for o in outcomes] == [
        ("beach.jpg", INDEXED), ("copy.jpg", DUPLICATE), ("notes.jpg", REJECTED), ("empty.png", REJECTED)]
    assert "not an image" in outcomes[2].reason and "empty" in outcomes[3].reason
    row = library.get(outcomes[0].id)
    assert (row["file_name"], row["description"], row["tags"]) == ("beach.jpg", "holiday", ["beach", "2024"])
    assert row["uri"] == str(media / f"{outcomes[0].id}.jpg") and open(row["uri"], "rb").read() == photo
    hits = library.search(encoder.encode_images([Image.open(row["uri"])])[0], k=1)
    assert hits[0]["id"] == outcomes[0].id and hits[0]["score"] == pytest.approx(1.0, abs=1e-3)


def test_uploading_the_same_picture_again_reports_it_as_already_in_the_library(encoder, tmp_path):
    library = ImageLibrary(str(tmp_path / "db"))
    index_uploads(library, encoder, [("a.jpg", jpeg_bytes(2))], media=str(tmp_path / "media"))
    again = index_uploads(library, encoder, [("renamed.jpg", jpeg_bytes(2))], media=str(tmp_path / "media"))
    assert [o.status for o in again] == [DUPLICATE]
    assert library.count() == 1


def test_an_upload_name_is_only_metadata_and_cannot_escape_the_media_folder(encoder, tmp_path):
    library = ImageLibrary(str(tmp_path / "db"))
    media = tmp_path / "media"
    outcomes = index_uploads(library, encoder, [("../../x.jpg", jpeg_bytes(3)), ("..\\..\\evil.png", jpeg_bytes(4))],
                             media=str(media))
    assert [o.status for o in outcomes] == [INDEXED, INDEXED]
    assert [o.name for o in outcomes] == ["x.jpg", "evil.png"]
    stored = sorted(os.listdir(media))
    assert stored == sorted(f"{o.id}.jpg" for o in outcomes)  # named by hash and by decoded format
    assert not (tmp_path / "x.jpg").exists() and not (tmp_path.parent / "x.jpg").exists()


def test_progress_reaches_the_end(encoder, tmp_path):
    calls = []
    index_uploads(ImageLibrary(str(tmp_path / "db")), encoder, [("a.jpg", jpeg_bytes(5)), ("b.jpg", jpeg_bytes(6))],
                  media=str(tmp_path / "m"), progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] and np.all(np.diff([c[0] for c in calls]) > 0)


def test_uploads_obey_the_same_size_and_pixel_limits_as_indexing(encoder, tmp_path):
    limits = Settings.load(env={"IMAGESEARCH_MAX_FILE_MB": "0.01", "IMAGESEARCH_MAX_PIXELS": "10000"}).limits  # 10 KB
    library = ImageLibrary(str(tmp_path / "db"))
    big_file = jpeg_bytes(7) + b"\0" * 20_000  # a valid JPEG with trailing bytes, over 10 KB
    wide = Image.new("RGB", (200, 100), (10, 20, 30))
    buffer = io.BytesIO()
    wide.save(buffer, "PNG")
    outcomes = index_uploads(library, encoder, [("big.jpg", big_file), ("wide.png", buffer.getvalue())],
                             media=str(tmp_path / "media"), limits=limits)
    assert [o.status for o in outcomes] == [REJECTED, REJECTED]
    assert outcomes[0].reason.startswith("file too large") and outcomes[1].reason.startswith("image too large")
    assert not (tmp_path / "media").exists() or not os.listdir(tmp_path / "media")
    assert not library.exists() or library.count() == 0


_PEAK_MEMORY_SCRIPT = """
import io, resource, sys
from PIL import Image
from pipeline.encoder import ClipEncoder
from pipeline.uploads import INDEXED, index_uploads
from store import ImageLibrary

model, db, media, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def png(i):
    buffer = io.BytesIO()
    Image.new("RGB", (6000, 6000), (i * 20, 100, 200)).save(buffer, "PNG")
    return buffer.getvalue()
files = [(f"big{i}.png", png(i)) for i in range(n)]  # 36 MP each: 108 MB decoded, a few KB as PNG
library, encoder = ImageLibrary(db), ClipEncoder(model, device="cpu")
index_uploads(library, encoder, [("warm.png", png(99))], media=media)  # load everything once
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcomes = index_uploads(library, encoder, files, media=media)
assert all(o.status == INDEXED for o in outcomes), outcomes
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.slow
def test_uploads_stream_so_memory_does_not_grow_with_the_number_of_large_images(tmp_path, tiny_clip_dir):
    """8 uploads of 36-megapixel PNGs: held together they would take ~860 MB of pixels; streamed, the
    peak grows by about one image's worth."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", _PEAK_MEMORY_SCRIPT, tiny_clip_dir, str(tmp_path / "db"),
                          str(tmp_path / "media"), "8"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    growth_mb = int(run.stdout.strip().splitlines()[-1])
    assert growth_mb < 400, f"peak memory grew by {growth_mb} MB for 8 large uploads"
