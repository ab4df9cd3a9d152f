"""http(s) sources in a list file, served by a local server: good images are indexed, a 404 and a
server that never answers are reported in one line each, counts add up, and the job ends in
bounded time (IMAGESEARCH_HTTP_TIMEOUT), with either runner."""

import json
import time

import pytest

from pipeline.cli import main
from pipeline.images import DecodeLimits, content_id
from pipeline.ingest.read import read_bytes
from store import ImageLibrary
from tests.http_server import image_server
from tests.sample_images import write_photos

TIMEOUT_S = 2


def test_read_bytes_reports_404_and_a_silent_server_within_the_timeout(tmp_path):
    photo = write_photos(tmp_path, 1)[0].read_bytes()
    limits = DecodeLimits(http_timeout_s=1)
    with image_server({"/a.jpg": photo}) as base:
        assert read_bytes(f"{base}/a.jpg", limits) == (photo, None)
        assert read_bytes(f"{base}/gone.jpg", limits) == (None, "HTTP 404 Not Found")
        started = time.monotonic()
        data, reason = read_bytes(f"{base}/hang/b.jpg", limits)
        assert data is None and reason == "download timed out: no answer within 1 s"
        assert time.monotonic() - started < 5
        small = DecodeLimits(max_file_bytes=100, http_timeout_s=1)
        assert read_bytes(f"{base}/a.jpg", small)[1].startswith("file too large")


def test_a_list_of_urls_indexes_the_good_ones_and_reports_404_and_hang(index_runner, tmp_path, tiny_clip_dir, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    monkeypatch.setenv("IMAGESEARCH_HTTP_TIMEOUT", str(TIMEOUT_S))
    photos = write_photos(tmp_path / "photos", 4)
    files = {f"/img/{p.name}": p.read_bytes() for p in photos}
    db = str(tmp_path / "db")
    with image_server(files) as base:
        urls = [base + path for path in files] + [f"{base}/img/missing.jpg", f"{base}/hang/slow.jpg"]
        (tmp_path / "urls.txt").write_text("# served by a local server\n" + "\n".join(urls) + "\n")
        started = time.monotonic()
        code = main(["index", str(tmp_path / "urls.txt"), "--db", db, "--json", *index_runner])
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    report = json.loads(out)

    assert code == 0, err
    assert (report["seen"], report["indexed"], report["skipped"], report["failed"]) == (6, 4, 0, 2)
    reasons = {f["uri"]: (f["stage"], f["reason"]) for f in report["failures"]}
    assert reasons == {f"{base}/img/missing.jpg": ("read", "HTTP 404 Not Found"),
                       f"{base}/hang/slow.jpg": ("read", f"download timed out: no answer within {TIMEOUT_S} s")}
    assert f"failed: {base}/hang/slow.jpg: download timed out" in err
    assert elapsed < 60  # bounded by the timeout, not by the silent server

    stored = ImageLibrary(db).query(select=["id", "uri", "file_name"], limit=None).to_pylist()
    assert {r["id"] for r in stored} == {content_id(p.read_bytes()) for p in photos}
    assert {r["uri"] for r in stored} == set(urls[:4]) and {r["file_name"] for r in stored} == {p.name for p in photos}


@pytest.mark.parametrize("path", ["/trickle-body/a.jpg", "/trickle-headers/a.jpg"])
def test_a_server_that_trickles_bytes_is_cut_off_at_the_whole_download_deadline(tmp_path, path):
    """One byte or one header line every 50 ms never trips a 0.1 s per-read timeout: the
    whole-transfer deadline (10 x 0.1 s) does."""
    limits = DecodeLimits(http_timeout_s=0.1)
    with image_server({}) as base:
        started = time.monotonic()
        data, reason = read_bytes(base + path, limits)
        elapsed = time.monotonic() - started
    assert data is None and reason == "download timed out: not complete after 1 s"
    assert elapsed < 3


def test_a_trickling_url_does_not_hold_up_the_good_file_in_the_same_job(tmp_path, tiny_clip_dir, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    monkeypatch.setenv("IMAGESEARCH_HTTP_TIMEOUT", "0.1")
    photo = write_photos(tmp_path / "photos", 1)[0]
    db = str(tmp_path / "db")
    with image_server({}) as base:
        (tmp_path / "list.txt").write_text(f"{base}/trickle-body/slow.jpg\n{photo}\n")
        code = main(["index", str(tmp_path / "list.txt"), "--db", db, "--json", "--runner", "local"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and (report["indexed"], report["failed"]) == (1, 1)
    assert report["failures"][0]["reason"] == "download timed out: not complete after 1 s"
    assert ImageLibrary(db).count() == 1


def test_credentials_in_a_url_are_never_shown_or_stored(tmp_path, tiny_clip_dir, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    photo = write_photos(tmp_path / "photos", 1)[0]
    db = str(tmp_path / "db")
    with image_server({"/a.jpg": photo.read_bytes()}) as base:
        secret = base.replace("http://", "http://alice:hunter2@")
        (tmp_path / "list.txt").write_text(f"{secret}/a.jpg\n{secret}/gone.jpg\n")
        code = main(["index", str(tmp_path / "list.txt"), "--db", db, "--json", "--runner", "local"])
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert code == 0 and (report["indexed"], report["failed"]) == (1, 1)
    error_file = open(report["error_report"]).read()
    stored = ImageLibrary(db).query(select=["uri"]).to_pylist()
    for text in (out, err, error_file, json.dumps(stored)):
        assert "hunter2" not in text and "alice" not in text
    assert stored == [{"uri": base.replace("http://", "http://***@") + "/a.jpg"}]
