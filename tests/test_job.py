"""The bulk job's stages, each fed a small batch without Ray; listing and planning."""

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.encoder import ClipEncoder
from pipeline.images import DecodeLimits, read_image_file
from pipeline.ingest.item import Item
from pipeline.ingest.known import KnownIds
from pipeline.ingest.plan import plan_index
from pipeline.ingest.report import IndexReport, write_failures
from pipeline.ingest.stages import encode, load
from pipeline.ingest.write import RowWriter
from pipeline.job.decode import decode_batch
from pipeline.job.encode import EncodeBatch
from pipeline.sources import Listing, Source, SourceError, list_sources
from store import ImageLibrary
from tests.sample_images import write_broken_files, write_photos


def _batch(paths):
    uris = [str(p) for p in paths]
    return {"uri": np.array(uris, dtype=object), "mtime": np.full(len(uris), 1.5),
            "description": np.array(["d"] * len(uris), dtype=object),
            "tags": np.array([json.dumps(["a", "b"])] * len(uris), dtype=object)}


def test_decode_gives_each_row_one_status_ok_failed_or_known(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path, 3)
    broken = write_broken_files(tmp_path)
    known = read_image_file(photos[1]).id
    paths = [*photos, broken["text"], tmp_path / "missing.jpg"]
    out = decode_batch(_batch(paths), model=tiny_clip_dir, known_ids=KnownIds([known]))
    items = list(out["item"])
    assert [i.status for i in items] == ["ok", "skipped", "ok", "failed", "failed"]
    assert [i.stage for i in items[1:]] == ["known", "", "decode", "read"]
    assert "not an image" in items[3].reason and "not found" in items[4].reason
    assert out["pixels"].dtype == np.uint8 and out["pixels"].shape == (5, 3, 32, 32)
    assert not out["pixels"][1].any() and out["pixels"][0].any()  # only live items carry pixels
    assert items[0].decoded.thumbnail[:2] == b"\xff\xd8" and items[0].decoded.width == 64
    assert items[0].decoded.image is None  # the full-size picture is not kept past preparation
    assert items[0].tags == ("a", "b") and items[0].mtime == 1.5


def test_known_ids_match_by_prefix_only_for_present_ids():
    ids = ["ab" * 32, "0f" * 32]
    known = KnownIds(ids)
    assert ids[0] in known and ids[1] in known and len(known) == 2
    assert "cd" * 32 not in known and "" not in known
    assert known.among(["cd" * 32, ids[1]]) == {ids[1]}


def test_the_encoder_actor_gives_the_in_process_encoders_vectors(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path, 4)
    out = EncodeBatch(tiny_clip_dir, device="cpu")(decode_batch(_batch(photos), model=tiny_clip_dir))
    assert "pixels" not in out
    encoder = ClipEncoder(tiny_clip_dir, device="cpu")
    expected = encoder.encode_images([read_image_file(p, draft_size=encoder.image_size).image for p in photos])
    np.testing.assert_allclose(np.stack([i.vector for i in out["item"]]), expected, atol=1e-5)


def test_a_batch_that_fails_to_encode_is_retried_image_by_image(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path, 3)
    items = [load(Item(uri=str(p)), ClipEncoder(tiny_clip_dir, device="cpu"), DecodeLimits()) for p in photos]
    items[1].pixels = items[1].pixels[:, :5]  # a tensor of the wrong shape: this one image cannot be encoded

    encode(items, ClipEncoder(tiny_clip_dir, device="cpu"))

    assert [i.status for i in items] == ["ok", "failed", "ok"] and items[1].stage == "encode"
    assert items[0].vector is not None and items[1].vector is None and items[2].vector is not None


def test_writer_commits_in_large_batches_and_counts(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path / "p", 5)

    def encoded():
        batch = EncodeBatch(tiny_clip_dir, device="cpu")(decode_batch(_batch([*photos, tmp_path / "x.jpg"]), model=tiny_clip_dir))
        return list(batch["item"])

    library = ImageLibrary(str(tmp_path / "db"))
    library.ensure(tiny_clip_dir, 16)
    report = IndexReport(seen=12)
    commits = []
    writer = RowWriter(library, report, commit_every=100, on_commit=lambda n, rows: commits.append((n, rows)))
    writer.write(encoded())
    writer.write(encoded())  # the same content again: merge-insert skips it
    writer.close()
    assert (report.indexed, report.skipped, report.failed) == (5, 5, 2) and writer.commits == 1
    assert commits == [(1, 5)]
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
