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
