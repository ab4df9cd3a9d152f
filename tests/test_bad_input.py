"""Every awkward or hostile file is indexed correctly or reported with a clear reason, and the
rest of the job completes with counts that add up: the same outcome file by file whichever runner
(in process, or the Ray Data job) does the work."""

import json

import pytest

from pipeline.cli import main
from store import ImageLibrary
from tests.hostile_files import write_hostile_corpus


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "hostile"
    return folder, write_hostile_corpus(folder)


def test_hostile_folder_is_indexed_or_reported_file_by_file(corpus, index_runner, tmp_path, tiny_clip_dir, capsys, monkeypatch):
    folder, expected = corpus
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    db = str(tmp_path / "db")

    code = main(["index", str(folder), "--db", db, "--json", *index_runner])
    out, err = capsys.readouterr()
    report = json.loads(out)

    assert code == 0
    failures = {f["uri"].rsplit("/", 1)[-1]: f["reason"] for f in report["failures"]}
    for name, outcome in expected.items():
        if outcome in ("indexed", "skipped"):
            assert name not in failures, f"{name}: {failures.get(name)}"
        else:
            assert failures.get(name, "").startswith(outcome), f"{name}: {failures.get(name)!r}"
            assert "\n" not in failures[name]
    indexed_names = {n for n, o in expected.items() if o == "indexed"}
    assert report["indexed"] == len(indexed_names)
    assert report["skipped"] == sum(1 for o in expected.values() if o == "skipped")
    assert report["failed"] == len(failures)
    assert report["seen"] == report["indexed"] + report["skipped"] + report["failed"]

    stored = {r["file_name"]: r for r in ImageLibrary(db).query(limit=1000).to_pylist()}
    assert set(stored) == indexed_names
    assert (stored["exif-rotated.jpg"]["width"], stored["exif-rotated.jpg"]["height"]) == (40, 80)
    assert stored["animated.gif"]["format"] == "GIF"
    assert stored["ñandú-写真-фото.png"]["uri"].endswith("ñandú-写真-фото.png")
