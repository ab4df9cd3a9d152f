"""The bulk indexing job end to end on real Ray: local, crash and resume, s3 via moto, two nodes."""

import json
import os
import signal
import subprocess
import sys
import time

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


def test_killed_driver_then_rerun_finishes_with_no_duplicates(tmp_path, tiny_clip_dir, ray_session):
    photos = write_photos(tmp_path / "photos", 240, size=(640, 480))
    db = tmp_path / "db"
    command = [sys.executable, "-m", "pipeline", "index", str(tmp_path / "photos"), "--db", str(db),
               "--model", tiny_clip_dir, "--runner", "ray", "--ray-address", ray_session,
               "--commit-every", "16", "--encode-batch-size", "8"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    driver = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline, partial = time.time() + 180, 0
    while time.time() < deadline and driver.poll() is None:
        if (db / "images.lance").exists():
            partial = ImageLibrary(str(db)).count()
            if partial:
                break
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    assert 0 < partial < len(photos), "the driver should have been killed mid-job"
    finished = subprocess.run([*command, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    report = json.loads(finished.stdout)
    assert report["seen"] == report["indexed"] + report["skipped"] + report["failed"] == len(photos)
    assert report["skipped"] >= partial and report["failed"] == 0
    rows = ImageLibrary(str(db)).query(select=["id"], limit=None)["id"].to_pylist()
    assert len(rows) == len(set(rows)) and set(rows) == {content_id(p.read_bytes()) for p in photos}


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
        library = ImageLibrary("s3://pics/db")
        assert library.count() == 5 and library.get(content_id(photos[0].read_bytes()))["uri"] == f"s3://pics/in/{photos[0].name}"
        code, report, _ = index(capsys, "s3://pics/in/", "--db", "s3://pics/db", "--model", tiny_clip_dir, "--runner", "ray")
        assert (report["indexed"], report["skipped"]) == (0, 5)  # unchanged objects: not read again


@pytest.mark.cluster
def test_two_node_cluster_indexes_with_work_on_both_nodes(tmp_path, tiny_clip_dir):
    photos = write_photos(tmp_path / "photos", 300, size=(320, 240))
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
