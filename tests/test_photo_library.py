"""A phone/camera photo folder end to end through the CLI: HEIC, AVIF and EXIF-tagged JPEGs index
with their date, camera and place; search filters by them; stats counts them."""

import json
from datetime import datetime, timezone

import pytest

from pipeline.cli import main
from tests.photo_files import corrupt_exif_jpeg, write_photo


@pytest.fixture
def env(tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    return tmp_path


def photo_folder(root):
    folder = root / "photos"
    write_photo(folder / "lisbon.jpg", seed=1, taken="2019:07:14 10:00:00", offset="+01:00", make="Apple",
                model="iPhone 12", lat=38.72, lon=-9.14, alt=60)
    write_photo(folder / "paris.jpg", seed=2, taken="2019:08:02 18:30:00", make="Canon", model="Canon EOS R5",
                lat=48.8566, lon=2.3522)
    write_photo(folder / "old_lisbon.jpg", seed=3, taken="2015:03:01 09:00:00", make="Apple", model="iPhone 6",
                lat=38.7223, lon=-9.1393)
    write_photo(folder / "IMG_0001.heic", fmt="HEIF", seed=4, taken="2019:06:20 12:00:00", make="Apple",
                model="iPhone 15 Pro", lat=38.72, lon=-9.14)
    write_photo(folder / "web.avif", fmt="AVIF", seed=5, taken="2021:12:24 20:00:00", model="Pixel 8")
    (folder / "broken_exif.jpg").write_bytes(corrupt_exif_jpeg())
    return folder


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_photo_folder_indexes_with_date_camera_and_place(env, capsys, index_runner):
    code, _, err = run(capsys, "index", str(photo_folder(env)), *index_runner)
    assert code == 0, err
    code, out, _ = run(capsys, "query", "SELECT file_name, format, taken_at, camera_model, city, country FROM images "
                       "ORDER BY file_name", "--json")
    rows = {r["file_name"]: r for r in json.loads(out)["rows"]}
    assert code == 0 and len(rows) == 6
    assert rows["lisbon.jpg"]["taken_at"].startswith("2019-07-14T09:00:00")  # 10:00 at +01:00
    assert (rows["lisbon.jpg"]["camera_model"], rows["lisbon.jpg"]["city"], rows["lisbon.jpg"]["country"]) == \
        ("iPhone 12", "Lisbon", "Portugal")
    assert (rows["paris.jpg"]["city"], rows["paris.jpg"]["country"]) == ("Paris", "France")
    assert rows["IMG_0001.heic"]["format"] == "HEIF" and rows["IMG_0001.heic"]["city"] == "Lisbon"
    assert rows["web.avif"]["format"] == "AVIF" and rows["web.avif"]["camera_model"] == "Pixel 8"
    assert rows["web.avif"]["city"] is None
    broken = rows["broken_exif.jpg"]
    assert broken["taken_at"] is None and broken["camera_model"] is None and broken["city"] is None


def test_search_filters_by_date_taken_place_and_camera_and_composes_with_where(env, capsys):
    assert run(capsys, "index", str(photo_folder(env)), "--runner", "local")[0] == 0

    def names(*options):
        code, out, err = run(capsys, "search", "--text", "a street", "--k", "10", "--json", "--no-cutoff", *options)
        assert code == 0, err
        return [r["file_name"] for r in json.loads(out)["results"]]

    assert sorted(names("--taken-after", "2019-06-01", "--taken-before", "2019-09-01", "--place", "lisbon")) == \
        ["IMG_0001.heic", "lisbon.jpg"]
    assert sorted(names("--camera", "iphone")) == ["IMG_0001.heic", "lisbon.jpg", "old_lisbon.jpg"]
    assert names("--place", "France") == ["paris.jpg"]
    assert sorted(names("--place", "Portugal", "--where", "format = 'JPEG'")) == ["lisbon.jpg", "old_lisbon.jpg"]
    assert sorted(names("--no-has-location")) == ["broken_exif.jpg", "web.avif"]
    assert names("--has-location", "--sort", "taken_at") == ["paris.jpg", "lisbon.jpg", "IMG_0001.heic", "old_lisbon.jpg"]  # newest first
    code, _, err = run(capsys, "search", "--text", "x", "--taken-after", "last summer")
    assert code == 2 and "ISO date" in err


def test_stats_count_dated_and_geotagged_photos_and_top_cameras(env, capsys):
    assert run(capsys, "index", str(photo_folder(env)), "--runner", "local")[0] == 0
    stats = json.loads(run(capsys, "stats", "--json")[1])
    assert (stats["rows"], stats["with_taken_at"], stats["with_location"]) == (6, 5, 4)
    assert stats["top_cameras"][0]["count"] == 1 and len(stats["top_cameras"]) == 5
    assert {"camera": "Apple iPhone 12", "count": 1} in stats["top_cameras"]


def test_no_location_stores_no_coordinates_and_no_place_names(env, capsys):
    assert run(capsys, "index", str(photo_folder(env)), "--runner", "local", "--no-location")[0] == 0
    rows = json.loads(run(capsys, "query", "SELECT count(*) AS n FROM images WHERE gps_lat IS NOT NULL "
                          "OR city IS NOT NULL OR country IS NOT NULL", "--json")[1])["rows"]
    assert rows == [{"n": 0}]
    dated = json.loads(run(capsys, "query", "SELECT count(*) AS n FROM images WHERE taken_at IS NOT NULL", "--json")[1])
    assert dated["rows"] == [{"n": 5}]


def test_the_python_api_takes_the_same_filters(env, capsys, tiny_clip_dir):
    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary
    from store.filters import FilterSpec

    assert run(capsys, "index", str(photo_folder(env)), "--runner", "local")[0] == 0
    library = ImageLibrary(str(env / "db"))
    vector = ClipEncoder(tiny_clip_dir, device="cpu").encode_texts(["a street"])[0]
    spec = FilterSpec(taken_after=datetime(2019, 7, 1, tzinfo=timezone.utc), place="Portugal")
    assert [h["file_name"] for h in library.search(vector, k=10, where=spec.where())] == ["lisbon.jpg"]
