"""List files are read line by line: a bad line fails alone, with its file and line number, and
every other line is indexed."""

import json

from pipeline.cli import main
from pipeline.list_files import read_csv_list
from store import ImageLibrary
from tests.sample_images import write_photos


def index(tmp_path, list_file, tiny_clip_dir, monkeypatch, capsys):
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    code = main(["index", str(list_file), "--db", str(tmp_path / "db"), "--runner", "local", "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_a_nul_byte_or_non_utf8_line_fails_alone_with_its_line_number(tmp_path, tiny_clip_dir, monkeypatch, capsys):
    photos = write_photos(tmp_path / "p", 2)
    listing = tmp_path / "list.txt"
    listing.write_bytes(f"{photos[0]}\n".encode() + b"/p/bad\x00name.jpg\n" + b"/p/caf\xe9.jpg\n"
                        + f"{photos[1]}\n".encode())
    code, report, err = index(tmp_path, listing, tiny_clip_dir, monkeypatch, capsys)
    assert code == 0 and (report["seen"], report["indexed"], report["failed"]) == (4, 2, 2)
    failures = {f["uri"]: (f["stage"], f["reason"]) for f in report["failures"]}
    assert failures == {f"{listing}:2": ("list", "contains a NUL byte"),
                        f"{listing}:3": ("list", "not UTF-8 text (byte 7)")}
    assert f"failed: {listing}:3: not UTF-8 text" in err
    assert ImageLibrary(str(tmp_path / "db")).count() == 2


def test_an_unterminated_csv_quote_fails_its_line_instead_of_swallowing_the_next(tmp_path, tiny_clip_dir, monkeypatch, capsys):
    photos = write_photos(tmp_path / "p", 3)
    listing = tmp_path / "list.csv"
    listing.write_text(f'uri,description\n{photos[0]},"a red one\n{photos[1]},plain\n{photos[2]},"quoted, ok"\n')
    code, report, _ = index(tmp_path, listing, tiny_clip_dir, monkeypatch, capsys)
    assert code == 0 and (report["seen"], report["indexed"], report["failed"]) == (3, 2, 1)
    assert report["failures"][0]["uri"] == f"{listing}:2"
    assert report["failures"][0]["reason"].startswith("cannot parse the CSV line")
    rows = ImageLibrary(str(tmp_path / "db")).query(select=["file_name", "description"]).to_pylist()
    assert sorted((r["file_name"], r["description"]) for r in rows) == [
        (photos[1].name, "plain"), (photos[2].name, "quoted, ok")]


def test_csv_lines_keep_tags_and_numbers(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text('\ufeffuri,description,tags\na.jpg,,"x|y"\n\nb.jpg,"say ""hi""",\n')
    entries, bad = read_csv_list(str(listing))
    assert bad == [] and entries == [(2, ("a.jpg", "", "x|y")), (4, ("b.jpg", 'say "hi"', ""))]
