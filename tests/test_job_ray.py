"""The bulk indexing job end to end on real Ray: local, driver killed and rerun, encoder actor killed, s3 via moto, two nodes."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.images import content_id
from store import ImageLibrary
from tests.job_helpers import ROOT, cluster_env, moto_s3, two_node_cluster
from tests.sample_images import make_image, write_broken_files, write_photos

pytestmark = pytest.mark.slow


def index(capsys, *argv):
    code = main(["index", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def rows_by_id(db):
    rows = ImageLibrary(str(db)).query(select=["id", "uri", "file_name", "width", "height", "format",
                                               "file_size", "mtime", "tags", "vector"], limit=None).to_pylist()
    return {r["id"]: r for r in rows}


def test_ray_job_writes_the_local_runners_rows_and_reports_failures(tmp_path, tiny_clip_dir, ray_session, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    photos = write_photos(tmp_path / "photos", 12)
    write_broken_files(tmp_path / "photos")
    code, report, err = index(capsys, str(tmp_path / "photos"), "--db", str(tmp_path / "ray"), "--runner", "ray",
                              "--tag", "t", "--encode-batch-size", "4")
    assert code == 0 and (report["seen"], report["indexed"], report["skipped"], report["failed"]) == (15, 12, 0, 3)
    assert report["error_report"].startswith(str(tmp_path / "ray" / "images.errors"))
    assert {json.loads(line)["stage"] for line in open(report["error_report"])} == {"decode"}
    assert "error report (3 items)" in err and "per worker busy time: read" in err
    main(["index", str(tmp_path / "photos"), "--db", str(tmp_path / "local"), "--runner", "local", "--tag", "t"])
    capsys.readouterr()
    ray_rows, local_rows = rows_by_id(tmp_path / "ray"), rows_by_id(tmp_path / "local")
    assert set(ray_rows) == set(local_rows) == {content_id(p.read_bytes()) for p in photos}
    for row_id, row in ray_rows.items():
        other = local_rows[row_id]
        np.testing.assert_allclose(row.pop("vector"), other.pop("vector"), atol=1e-5)
        assert row == other

    # Rerun: unchanged files are skipped unread; a changed and a deleted file wait for --update/--prune.
    make_image(500).save(photos[0], "JPEG")
    os.utime(photos[0], (1, 1))
    photos[1].unlink()
    code, report, err = index(capsys, str(tmp_path / "photos"), "--db", str(tmp_path / "ray"), "--runner", "ray")
    assert (report["seen"], report["indexed"], report["skipped"], report["failed"]) == (14, 0, 11, 3)
    assert report["stale"] == 1 and "--update" in err
    code, report, _ = index(capsys, str(tmp_path / "photos"), "--db", str(tmp_path / "ray"), "--runner", "ray",
                            "--update", "--prune")
    assert (report["indexed"], report["replaced"], report["pruned"]) == (1, 1, 1)
    rows = rows_by_id(tmp_path / "ray")
    assert len(rows) == 11 and content_id(photos[0].read_bytes()) in rows
    assert str(photos[1]) not in {r["uri"] for r in rows.values()}


# A driver script that kills its own process right after its Nth durable commit: the crash lands at a
# counted event, never at a moment chosen by sleeping.
_KILLED_DRIVER = """
import os, signal, sys
from pipeline.encoder import ClipEncoder
from pipeline.ingest.index import IndexOptions, index
from pipeline.settings import Settings

photos, db, model, address, kill_after = sys.argv[1:6]

def on_commit(commits, rows):
    if commits == int(kill_after):
        os.kill(os.getpid(), signal.SIGKILL)

settings = Settings(db=db, model=model, ray_address=address)
library = settings.open_library()
index(library, ClipEncoder(model, device="cpu"), [photos], settings=settings,
      options=IndexOptions(runner="ray", commit_every=8, encode_batch_size=4, on_commit=on_commit))
"""


def _run_driver(tmp_path, db, model, address, kill_after):
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    return subprocess.run([sys.executable, "-c", _KILLED_DRIVER, str(tmp_path / "photos"), str(db), model, address,
                           str(kill_after)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _rows(db) -> list[str]:
    return ImageLibrary(str(db)).query(select=["id"], limit=None)["id"].to_pylist() if (db / "images.lance").exists() else []


def _assert_each_valid_image_once(db, photos):
    rows = _rows(db)
    assert len(rows) == len(set(rows)), "duplicate rows"
    assert set(rows) == {content_id(p.read_bytes()) for p in photos}


def test_a_driver_killed_after_its_nth_commit_resumes_on_rerun_with_each_valid_image_once(tmp_path, tiny_clip_dir, ray_session):
    """The driver is SIGKILLed right after commit 1, 1 and 2 of three runs in a row (other batches
    are in flight each time); every kill leaves only whole commits, and the final run completes."""
    photos = write_photos(tmp_path / "photos", 300, size=(320, 240))
    broken = write_broken_files(tmp_path / "photos")
    db = tmp_path / "db"
    stored = 0
    for kill_after in (1, 1, 2):
        killed = _run_driver(tmp_path, db, tiny_clip_dir, ray_session, kill_after)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        rows = _rows(db)
        assert len(rows) == len(set(rows)), f"duplicates after the kill after commit {kill_after}"
        assert stored < len(rows) < len(photos), f"the kill after commit {kill_after} was not mid-job: {len(rows)} rows"
        stored = len(rows)
    finished = _run_driver(tmp_path, db, tiny_clip_dir, ray_session, kill_after=0)
    assert finished.returncode == 0, finished.stderr[-2000:]
    _assert_each_valid_image_once(db, photos)
    assert len(photos) > stored and len(broken) > 0


def test_an_encoder_actor_that_dies_mid_job_is_restarted_and_the_job_completes_without_duplicates(tmp_path, tiny_clip_dir, ray_session):
    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import IndexOptions, index
    from pipeline.job.encode import CrashOnBatch

    photos = write_photos(tmp_path / "photos", 96, size=(320, 240))
    broken = write_broken_files(tmp_path / "photos")
    db, marker = tmp_path / "db", tmp_path / "encoder-crashed"
    library = ImageLibrary(str(db))
    options = IndexOptions(runner="ray", commit_every=8, encode_batch_size=4,
                           crash=CrashOnBatch(batch=3, marker=str(marker)))  # its third batch, once
    report = index(library, ClipEncoder(tiny_clip_dir, device="cpu"), [str(tmp_path / "photos")], options=options)
    assert marker.exists(), "the encoder actor did not crash"
    assert (report.seen, report.indexed, report.skipped, report.failed) == \
        (len(photos) + len(broken), len(photos), 0, len(broken))
    _assert_each_valid_image_once(db, photos)


def test_s3_sources_and_s3_database_through_moto(tmp_path, tiny_clip_dir, ray_session, capsys, monkeypatch):
    import boto3

    with moto_s3(monkeypatch) as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="pics")
        photos = write_photos(tmp_path / "photos", 5)
        for photo in photos:
            s3.upload_file(str(photo), "pics", f"in/{photo.name}")
        s3.put_object(Bucket="pics", Key="in/broken.jpg", Body=b"not a jpeg")
        (tmp_path / "list.txt").write_text("s3://pics/in/missing.jpg\n")
        code, report, err = index(capsys, "s3://pics/in/", str(tmp_path / "list.txt"), "--db", "s3://pics/db",
                                  "--model", tiny_clip_dir, "--runner", "ray")
        assert code == 0, err
        assert (report["seen"], report["indexed"], report["failed"]) == (7, 5, 2)
        assert {f["stage"] for f in report["failures"]} == {"read", "decode"}
        assert report["error_report"].startswith("s3://pics/db/images.errors/")
        assert s3.list_objects_v2(Bucket="pics", Prefix="db/images.errors/")["KeyCount"] == 1
        from pipeline.settings import Settings

        library = Settings.load(db="s3://pics/db").open_library()  # the credentials come from the settings
        assert library.count() == 5 and library.get(content_id(photos[0].read_bytes()))["uri"] == f"s3://pics/in/{photos[0].name}"
        code, report, _ = index(capsys, "s3://pics/in/", "--db", "s3://pics/db", "--model", tiny_clip_dir, "--runner", "ray")
        assert (report["indexed"], report["skipped"]) == (0, 5)  # unchanged objects: not read again


@pytest.mark.cluster
def test_two_node_cluster_indexes_with_work_on_both_nodes(tmp_path, tiny_clip_dir):
    write_photos(tmp_path / "photos", 300, size=(320, 240))
    db = tmp_path / "db"
    with two_node_cluster() as address:
        command = [sys.executable, "-m", "pipeline", "index", str(tmp_path / "photos"), "--db", str(db),
                   "--model", tiny_clip_dir, "--ray-address", address, "--json"]
        refused = subprocess.run(command, env=cluster_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "--shared-db" in refused.stderr
        done = subprocess.run([*command, "--shared-db"], env=cluster_env(), cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert (report["seen"], report["indexed"], report["failed"]) == (300, 300, 0)
    assert len(report["nodes"]) == 2 and all(n > 0 for n in report["nodes"].values()), report["nodes"]
    assert ImageLibrary(str(db)).count() == 300
