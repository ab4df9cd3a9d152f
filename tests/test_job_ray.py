"""The bulk indexing job end to end on real Ray: local, driver killed and rerun, encoder actor killed, s3 via moto, two nodes."""

import json
import os
import random
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


def _driver(command, log):
    """The index command as its own process group (so SIGKILL takes the whole driver), stderr to `log`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    with open(log, "w") as err:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)


def _rows_now(db) -> int:
    return ImageLibrary(str(db)).count() if (db / "images.lance").exists() else 0


def _versions(db) -> int:
    """Table versions committed so far (one manifest file each): cheap enough to poll."""
    folder = db / "images.lance" / "_versions"
    return len(os.listdir(folder)) if folder.exists() else 0


def _wait_for(condition, driver, what, timeout=180):
    deadline = time.time() + timeout
    while not condition():
        assert driver.poll() is None, f"the driver ended before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _finish(command):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    finished = subprocess.run([*command, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    return json.loads(finished.stdout)


def _assert_each_valid_image_once(db, photos):
    rows = ImageLibrary(str(db)).query(select=["id"], limit=None)["id"].to_pylist()
    assert len(rows) == len(set(rows)), "duplicate rows"
    assert set(rows) == {content_id(p.read_bytes()) for p in photos}


def test_driver_killed_at_several_points_then_rerun_holds_each_valid_image_once(tmp_path, tiny_clip_dir, ray_session):
    """SIGKILL the driver at seeded random moments after the job starts and after a commit, and
    right after a commit; every rerun resumes, and the last leaves exactly the valid images, once each."""
    photos = write_photos(tmp_path / "photos", 240, size=(640, 480))
    broken = write_broken_files(tmp_path / "photos")
    db, log = tmp_path / "db", tmp_path / "driver.log"
    command = [sys.executable, "-m", "pipeline", "index", str(tmp_path / "photos"), "--db", str(db),
               "--model", tiny_clip_dir, "--runner", "ray", "--ray-address", ray_session,
               "--commit-every", "8", "--encode-batch-size", "4"]
    rng = random.Random(6)
    # (what to wait for, then a seeded random pause): the job's start, or its first new commit.
    kill_points = [("commit", 0.0), ("start", rng.uniform(0.3, 2.0)), ("commit", rng.uniform(0.05, 0.5))]
    mid_job = 0
    for point, delay in kill_points:
        before, versions = _rows_now(db), _versions(db)  # a new version may only be ensure()'s: count rows
        driver = _driver(command, log)
        if point == "commit":
            _wait_for(lambda: _versions(db) != versions and _rows_now(db) > before, driver, "a commit")
        else:
            _wait_for(lambda: "Starting execution of Dataset" in log.read_text(errors="replace"), driver, "the job's start")
        time.sleep(delay)
        assert driver.poll() is None, f"the job ended before the kill {delay:.2f} s after a {point}"
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
        partial = _rows_now(db)
        # A random kill may land after the last commit, before the driver reports: still a crash.
        assert before <= partial <= len(photos), f"killed {delay:.2f} s after a {point}: {partial} rows"
        mid_job += 0 < partial < len(photos)
        rows = ImageLibrary(str(db)).query(select=["id"], limit=None)["id"].to_pylist() if partial else []
        assert len(rows) == len(set(rows)), f"duplicates after the kill {delay:.2f} s after a {point}"
    assert mid_job, "no kill left a partly written table"

    report = _finish(command)
    assert report["seen"] == report["indexed"] + report["skipped"] + report["failed"] == len(photos) + len(broken)
    assert report["indexed"] == len(photos) - partial and report["failed"] == len(broken)
    _assert_each_valid_image_once(db, photos)


def _alive_encoder_pids() -> list[int]:
    """PIDs of the job's encoder actors, from the GCS actor table. (ray.util.state.list_actors says
    the same but needs the dashboard, which the session Ray runs without.)"""
    import ray

    return [a["Pid"] for a in ray._private.state.actors().values()
            if a["State"] == "ALIVE" and "EncodeBatch" in a["ActorClassName"] and a["Pid"]]


def test_a_killed_encoder_actor_is_restarted_and_the_job_completes_without_duplicates(tmp_path, tiny_clip_dir, ray_session):
    photos = write_photos(tmp_path / "photos", 240, size=(640, 480))
    broken = write_broken_files(tmp_path / "photos")
    db, log = tmp_path / "db", tmp_path / "driver.log"
    command = [sys.executable, "-m", "pipeline", "index", str(tmp_path / "photos"), "--db", str(db),
               "--model", tiny_clip_dir, "--runner", "ray", "--ray-address", ray_session,
               "--commit-every", "8", "--encode-batch-size", "4", "--json"]
    driver = _driver(command[:-1], log)  # stdout is not needed: the table and a rerun tell the outcome
    _wait_for(lambda: _versions(db) > 2 and _rows_now(db) > 0, driver, "the first commit")  # create, key, rows
    victims = _alive_encoder_pids()
    assert victims, "no encoder actor alive mid-job"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert _rows_now(db) < len(photos), "the encoder was killed after the job's last commit"
    assert driver.wait(timeout=300) == 0, log.read_text(errors="replace")[-3000:]
    stored = _rows_now(db)
    assert stored == len(photos), f"{stored} rows after the job, {len(photos)} valid images"
    _assert_each_valid_image_once(db, photos)
    report = _finish(command[:-1])  # nothing left to do: every image is already there exactly once
    assert (report["indexed"], report["skipped"], report["failed"]) == (0, len(photos), len(broken))


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
