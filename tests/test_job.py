"""The bulk job's stages, each fed a small batch without Ray; listing and planning."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.encoder import ClipEncoder
from pipeline.images import DecodeLimits, read_image_file
from pipeline.job.decode import decode_batch, id_keys, is_known
from pipeline.job.encode import EncodeBatch
from pipeline.ingest.plan import plan_index
from pipeline.ingest.write import RowWriter
from pipeline.ingest.report import IndexReport, write_failures
from pipeline.sources import Listing, Source, SourceError, list_sources
from store import ImageLibrary
from tests.sample_images import write_broken_files, write_photos


def _batch(paths):
    uris = [str(p) for p in paths]
    return {"uri": np.array(uris, dtype=object), "mtime": np.full(len(uris), 1.5),
            "description": np.array(["d"] * len(uris), dtype=object),
            "tags": np.array([json.dumps(["a", "b"])] * len(uris), dtype=object)}


def test_decode_marks_each_row_ok_failed_or_known(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path, 3)
    broken = write_broken_files(tmp_path)
    known = read_image_file(photos[1]).id
    paths = [*photos, broken["text"], tmp_path / "missing.jpg"]
    out = decode_batch(_batch(paths), model=tiny_clip_dir, known_ids=id_keys([known]))
    assert list(out["status"]) == ["ok", "skipped", "ok", "failed", "failed"]
    assert list(out["stage"][3:]) == ["decode", "read"]
    assert "not an image" in out["reason"][3] and "not found" in out["reason"][4]
    assert out["pixels"].dtype == np.uint8 and out["pixels"].shape == (5, 3, 32, 32)
    assert out["thumbnail"][0][:2] == b"\xff\xd8" and out["width"][0] == 64


def test_known_ids_match_by_prefix_only_for_present_ids():
    ids = ["ab" * 32, "0f" * 32]
    keys = id_keys(ids)
    assert is_known(ids[0], keys) and is_known(ids[1], keys)
    assert not is_known("cd" * 32, keys) and not is_known("", keys)


def test_encoded_rows_equal_the_in_process_encoder(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path, 4)
    out = EncodeBatch(tiny_clip_dir, device="cpu")(decode_batch(_batch(photos), model=tiny_clip_dir))
    assert "pixels" not in out
    encoder = ClipEncoder(tiny_clip_dir, device="cpu")
    draft = max(encoder.image_size, DecodeLimits().thumbnail_size)
    expected = encoder.encode_images([read_image_file(p, draft_size=draft).image for p in photos])
    np.testing.assert_allclose(out["vector"], expected, atol=1e-5)


def test_writer_commits_in_large_batches_and_counts(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path / "p", 5)
    batch = EncodeBatch(tiny_clip_dir, device="cpu")(decode_batch(_batch([*photos, tmp_path / "x.jpg"]), model=tiny_clip_dir))
    library = ImageLibrary(str(tmp_path / "db"))
    library.ensure(tiny_clip_dir, 16)
    report = IndexReport(seen=6)
    writer = RowWriter(library, report, commit_every=100)
    writer.write(batch)
    writer.write(batch)  # the same content again: merge-insert skips it
    writer.close()
    assert (report.indexed, report.skipped, report.failed) == (5, 5, 2) and writer.commits == 1
    row = library.get(read_image_file(photos[0]).id)
    assert row["tags"] == ["a", "b"] and row["description"] == "d" and row["mtime"].timestamp() == 1.5
    path = write_failures(report, library.db_uri, library.table_name)
    lines = [json.loads(line) for line in open(path)]
    assert path.startswith(str(tmp_path / "db" / "images.errors")) and lines[0]["stage"] == "read"


def test_list_files_text_csv_and_parquet(tmp_path):
    photos = write_photos(tmp_path / "p", 3)
    (tmp_path / "list.txt").write_text(f"# comment\n{photos[0]}\np/{photos[1].name}\n\nhttps://example.com/a.jpg\n")
    found = list_sources([str(tmp_path / "list.txt")]).sources
    assert [s.uri for s in found] == [str(photos[0]), str(photos[1]), "https://example.com/a.jpg"]
    assert found[0].size == photos[0].stat().st_size and found[2].size is None
    (tmp_path / "list.csv").write_text(f"uri,description,tags\n{photos[2]},a red one,\"x, y\"\n")
    [csv_source] = list_sources([str(tmp_path / "list.csv")]).sources
    assert csv_source.description == "a red one" and csv_source.tags == ("x", "y")
    pq.write_table(pa.table({"uri": [str(photos[0])], "tags": [["t"]]}), tmp_path / "list.parquet")
    [pq_source] = list_sources([str(tmp_path / "list.parquet")]).sources
    assert pq_source.tags == ("t",) and pq_source.description == ""
    pq.write_table(pa.table({"path": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(SourceError, match="no 'uri' column"):
        list_sources([str(tmp_path / "bad.parquet")])


def test_folders_are_roots_for_pruning(tmp_path):
    write_photos(tmp_path / "p", 2)
    listing = list_sources([str(tmp_path / "p"), str(tmp_path / "p" / "*.png")])
    assert len(listing.sources) == 3 and listing.roots == [str(tmp_path / "p") + os.sep]


def test_plan_skips_unchanged_leaves_changed_unless_update_and_prunes_gone():
    from datetime import datetime, timezone

    t = datetime.fromtimestamp(100, tz=timezone.utc)
    fingerprints = {"/r/same.jpg": (10, t, "id1"), "/r/changed.jpg": (10, t, "id2"), "/r/gone.jpg": (10, t, "id3"),
                    "/elsewhere/x.jpg": (10, t, "id4")}
    listing = Listing([Source("/r/same.jpg", 10, 100.0), Source("/r/changed.jpg", 11, 100.0),
                       Source("/r/new.jpg", 5, 1.0), Source("/r/new.jpg", 5, 1.0)], roots=["/r/"])
    plan = plan_index(listing, fingerprints)
    assert [s.uri for s in plan.todo] == ["/r/new.jpg"]
    assert (plan.unchanged, plan.duplicates, plan.stale, plan.gone_ids) == (1, 1, ["/r/changed.jpg"], [])
    plan = plan_index(listing, fingerprints, update=True, prune=True)
    assert [s.uri for s in plan.todo] == ["/r/changed.jpg", "/r/new.jpg"]
    assert plan.replace_ids == ["id2"] and plan.gone_ids == ["id3"] and "id2" not in plan.known_ids
