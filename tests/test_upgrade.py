"""A table written by the schema before photo metadata opens, and upgrades in place: new columns
filled from the files' EXIF, every vector and thumbnail byte-identical, nothing re-encoded."""

import json
import logging
from datetime import datetime, timezone

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from pipeline.cli import main
from store import ImageLibrary, InvalidFilterError
from store.schema import (
    DIM_KEY, MODEL_KEY, PHOTO_COLUMNS, PRIMARY_KEY_METADATA, SCHEMA_VERSION, TIMESTAMP, schema_version,
)
from tests.photo_files import write_photo

DIM = 8
MODEL = "old-model"


def v1_schema(dim: int, model_id: str) -> pa.Schema:
    """The row layout before photo metadata (schema version 1), copied as it was."""
    fields = [
        pa.field("id", pa.string(), nullable=False, metadata=PRIMARY_KEY_METADATA),
        pa.field("uri", pa.string()),
        pa.field("file_name", pa.string()),
        pa.field("description", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("file_size", pa.int64()),
        pa.field("mtime", TIMESTAMP),
        pa.field("indexed_at", TIMESTAMP),
        pa.field("attributes", pa.string()),
        pa.field("thumbnail", pa.binary()),
        pa.field("vector", pa.list_(pa.float32(), dim)),
    ]
    return pa.schema(fields, metadata={MODEL_KEY: model_id.encode(), DIM_KEY: str(dim).encode(),
                                       b"imagesearch.schema_version": b"1"})


@pytest.fixture
def old_table(tmp_path):
    """Three rows in a v1 table: a geotagged iPhone JPEG, a JPEG without EXIF, a file that is gone."""
    lisbon = write_photo(tmp_path / "photos" / "lisbon.jpg", seed=1, taken="2019:07:14 10:00:00", make="Apple",
                         model="iPhone 12", lat=38.72, lon=-9.14)
    plain = write_photo(tmp_path / "photos" / "plain.jpg", seed=2)
    uris = [str(lisbon), str(plain), str(tmp_path / "photos" / "gone.jpg")]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    data = pa.table({
        "id": [f"{i:064x}" for i in range(3)], "uri": uris, "file_name": [u.rsplit("/", 1)[-1] for u in uris],
        "description": ["", "", ""], "tags": [[], [], []], "width": [320] * 3, "height": [240] * 3,
        "format": ["JPEG"] * 3, "file_size": [1, 2, 3], "mtime": [now] * 3, "indexed_at": [now] * 3,
        "attributes": [None] * 3, "thumbnail": [b"thumb0", b"thumb1", b"thumb2"],
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), DIM),
    }, schema=v1_schema(DIM, MODEL))
    lancedb.connect(str(tmp_path / "db")).create_table("images", data=data, schema=v1_schema(DIM, MODEL))
    return tmp_path


def heavy_columns(db: str) -> pa.Table:
    table = lancedb.connect(db).open_table("images").to_lance().to_table(columns=["id", "vector", "thumbnail"])
    return table.sort_by("id")


def test_an_old_table_opens_reads_and_searches_before_any_upgrade(old_table):
    library = ImageLibrary(str(old_table / "db"), read_only=True)
    assert schema_version(library.table.schema) == 1
    hits = library.search(np.ones(DIM, dtype=np.float32), k=3)
    assert len(hits) == 3 and "taken_at" not in hits[0]
    assert len(library.page(limit=5)) == 3 and library.get(f"{0:064x}")["uri"].endswith("lisbon.jpg")
    assert library.stats()["with_taken_at"] == 0
    with pytest.raises(InvalidFilterError, match="run python -m pipeline upgrade"):
        library.search(np.ones(DIM, dtype=np.float32), k=3, where="city = 'Lisbon'")


def test_upgrade_adds_the_photo_columns_from_the_files_and_leaves_vectors_byte_identical(old_table, capsys, monkeypatch):
    db = str(old_table / "db")
    before = heavy_columns(db)
    monkeypatch.setenv("IMAGESEARCH_DB", db)
    assert main(["upgrade", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["upgraded"] and (report["checked"], report["filled"], report["unreadable"]) == (3, 1, 1)
    after = heavy_columns(db)
    assert after.equals(before)  # every vector and thumbnail, bit for bit
    library = ImageLibrary(db)
    assert schema_version(library.table.schema) == SCHEMA_VERSION
    assert set(PHOTO_COLUMNS) <= set(library.table.schema.names)
    rows = {r["file_name"]: r for r in library.query(limit=None).to_pylist()}
    assert rows["lisbon.jpg"]["camera_model"] == "iPhone 12" and rows["lisbon.jpg"]["city"] == "Lisbon"
    assert rows["lisbon.jpg"]["taken_at"] == datetime(2019, 7, 14, 10, tzinfo=timezone.utc)
    assert all(rows[name][c] is None for name in ("plain.jpg", "gone.jpg") for c in PHOTO_COLUMNS)
    assert main(["upgrade"]) == 0  # a second run finds nothing to do and changes nothing
    assert "schema already current" in capsys.readouterr().out
    assert heavy_columns(db).equals(before)


def test_the_first_write_upgrades_an_old_table_with_a_log_line_and_upgrade_fills_it_later(old_table, caplog, monkeypatch):
    db = str(old_table / "db")
    before = heavy_columns(db)
    library = ImageLibrary(db)
    with caplog.at_level(logging.WARNING, logger="store.upgrade"):
        library.ensure(MODEL, DIM)
    assert "upgraded from schema v1 to v2" in caplog.text and "python -m pipeline upgrade" in caplog.text
    assert schema_version(library.table.schema) == SCHEMA_VERSION
    new = {"id": "f" * 64, "uri": "new.jpg", "file_name": "new.jpg", "vector": np.ones(DIM), "thumbnail": b"t",
           "camera_model": "Pixel 8", "taken_at": "2023-05-01T12:00:00+00:00", "city": "Porto"}
    assert library.add([new]).inserted == 1
    got = library.get("f" * 64)
    assert got["camera_model"] == "Pixel 8" and got["city"] == "Porto"
    monkeypatch.setenv("IMAGESEARCH_DB", db)
    assert main(["upgrade"]) == 0  # fills the old rows, leaves the new one as written
    rows = {r["file_name"]: r for r in ImageLibrary(db).query(limit=None).to_pylist()}
    assert rows["lisbon.jpg"]["camera_model"] == "iPhone 12" and rows["new.jpg"]["camera_model"] == "Pixel 8"
    assert heavy_columns(db).filter(pa.compute.field("id") != "f" * 64).equals(before)


def test_rows_deleted_before_the_upgrade_can_still_be_brought_back(old_table):
    library = ImageLibrary(str(old_table / "db"))
    version = library.table.version
    assert library.delete(ids=[f"{1:064x}"]) == 1
    library.ensure(MODEL, DIM)  # the first write upgrades the table
    assert library.undelete(version, ids=[f"{1:064x}"]) == 1
    back = library.get(f"{1:064x}")
    assert back["file_name"] == "plain.jpg" and back["taken_at"] is None


def test_a_second_writer_with_a_stale_handle_finds_the_table_already_upgraded(old_table):
    db = str(old_table / "db")
    first, stale = ImageLibrary(db), ImageLibrary(db, read_consistency_interval=None)
    assert schema_version(stale.table.schema) == 1  # opened before the upgrade, never refreshed
    first.ensure(MODEL, DIM)
    stale.ensure(MODEL, DIM)  # its add_columns conflicts; it re-reads the table instead of failing
    assert set(PHOTO_COLUMNS) <= set(stale.table.schema.names)
    assert stale.add([{"id": "e" * 64, "uri": "x.jpg", "vector": np.ones(DIM), "city": "Braga"}]).inserted == 1
