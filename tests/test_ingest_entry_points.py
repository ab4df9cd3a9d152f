"""Every way into the library builds the same row for the same bytes: the CLI's in-process runner,
the Ray Data job, the dashboard's upload and a kept generated image all go through the one core."""

import pytest
from PIL import Image

from pipeline.encoder import ClipEncoder
from pipeline.generate import GeneratedImage, GenerationParams
from pipeline.images import content_id
from pipeline.ingest.index import IndexOptions, index
from pipeline.keep import add_generated
from pipeline.uploads import INDEXED, index_uploads
from store import ImageLibrary
from tests.sample_images import make_image

# What the entry point decides (where the original lives, its name, the words with it, when it
# arrived); everything computed from the bytes must be identical.
PER_ENTRY_POINT = {"uri", "file_name", "description", "tags", "attributes", "mtime", "indexed_at"}


def _rows(library: ImageLibrary) -> dict[str, dict]:
    columns = library.table.schema.names  # every column, vector and thumbnail included
    return {row["id"]: row for row in library.query(select=columns, limit=None).to_pylist()}


def _content_columns(row: dict) -> dict:
    return {key: value for key, value in row.items() if key not in PER_ENTRY_POINT}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A 'generated' image: real PNG bytes with generation parameters, as the Generate page keeps them."""
    return GeneratedImage(image=make_image(3, (96, 80)), seed=7, params=GenerationParams(prompt="a red square", seed=7))


@pytest.mark.slow
def test_every_entry_point_builds_the_same_row_for_the_same_bytes(tmp_path, tiny_clip_dir, ray_session, generated):
    encoder = ClipEncoder(tiny_clip_dir, device="cpu")
    photo = tmp_path / "photos" / "square.png"
    photo.parent.mkdir()
    photo.write_bytes(generated.png)
    jpeg = tmp_path / "photos" / "photo.jpg"
    Image.open(photo).convert("RGB").save(jpeg, "JPEG")

    libraries = {name: ImageLibrary(str(tmp_path / name)) for name in ("local", "ray", "upload", "generated")}
    index(libraries["local"], encoder, [str(photo.parent)], options=IndexOptions(runner="local"))
    index(libraries["ray"], encoder, [str(photo.parent)], options=IndexOptions(runner="ray", encode_batch_size=2))
    outcomes = index_uploads(libraries["upload"], encoder, [("square.png", photo.read_bytes()), ("photo.jpg", jpeg.read_bytes())],
                             media=str(tmp_path / "media-upload"))
    assert [o.status for o in outcomes] == [INDEXED, INDEXED]
    add_generated(libraries["generated"], encoder, [generated], str(tmp_path / "media-generated"))

    rows = {name: _rows(library) for name, library in libraries.items()}
    png_id, jpeg_id = content_id(generated.png), content_id(jpeg.read_bytes())
    assert set(rows["local"]) == set(rows["ray"]) == set(rows["upload"]) == {png_id, jpeg_id}
    assert set(rows["generated"]) == {png_id}
    reference = _content_columns(rows["local"][png_id])
    for name in ("ray", "upload", "generated"):
        other = _content_columns(rows[name][png_id])
        assert other.pop("vector") == pytest.approx(reference["vector"], abs=1e-5), name
        assert other == {k: v for k, v in reference.items() if k != "vector"}, name
    assert _content_columns(rows["upload"][jpeg_id]).keys() == reference.keys()
    assert rows["upload"][jpeg_id]["thumbnail"] == rows["local"][jpeg_id]["thumbnail"]
    # What each entry point adds on top: the upload keeps the person's name, generation its prompt.
    assert rows["upload"][png_id]["file_name"] == "square.png"
    assert rows["generated"][png_id]["description"] == "a red square" and rows["generated"][png_id]["tags"] == ["generated"]
