"""The CLI contract: `python -m pipeline COMMAND`, JSON on stdout, one-line errors, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.sample_images import write_broken_files, write_photos

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path, tiny_clip_dir, monkeypatch):
    """Point the CLI at a fresh database and the tiny model through environment variables."""
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    return tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_reports_counts_and_failures_then_is_idempotent(env, capsys):
    photos = env / "photos"
    write_photos(photos, 6)
    write_broken_files(photos)
    code, out, err = run(capsys, "index", str(photos))
    assert code == 0
    assert "seen 9, indexed 6, skipped 0 (already there), failed 3" in out
    assert err.count("failed: ") == 3 and "notes.jpg" in err and "empty.jpg" in err
    code, out, _ = run(capsys, "index", str(photos))
    assert code == 0
    assert "indexed 0, skipped 6" in out and "failed 3" in out
    code, out, _ = run(capsys, "stats", "--json")
    assert json.loads(out)["rows"] == 6


def test_index_json_report_counts_add_up(env, capsys):
    write_photos(env / "photos", 4)
    code, out, _ = run(capsys, "index", str(env / "photos"), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["seen"] == report["indexed"] + report["skipped"] + report["failed"] == 4


def test_the_same_content_under_two_names_is_one_row(env, capsys):
    [photo] = write_photos(env / "photos", 1)
    (env / "photos" / "copy of photo.jpg").write_bytes(photo.read_bytes())
    code, out, _ = run(capsys, "index", str(env / "photos"))
    assert code == 0 and "indexed 1, skipped 1" in out


def test_index_of_only_bad_files_fails(env, capsys):
    write_broken_files(env / "bad")
    code, _, _ = run(capsys, "index", str(env / "bad"))
    assert code == 1


def test_index_missing_path_is_a_usage_error(env, capsys):
    code, _, err = run(capsys, "index", str(env / "nowhere"))
    assert code == 2 and err.startswith("error: no such file or folder") and err.count("\n") == 1


def test_search_text_json_returns_k_results_with_scores(env, capsys):
    write_photos(env / "photos", 8)
    run(capsys, "index", str(env / "photos"))
    # --no-cutoff: a random-weight model's scores are spread far wider than CLIP's, so the relevance
    # cutoff (tuned for CLIP) would drop most of them.
    code, out, _ = run(capsys, "search", "--text", "a cat", "--k", "5", "--json", "--no-cutoff")
    assert code == 0
    results = json.loads(out)["results"]
    assert len(results) == 5
    assert {"id", "uri", "score"} <= set(results[0])
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_search_by_image_finds_that_image_first(env, capsys):
    photos = write_photos(env / "photos", 8)
    run(capsys, "index", str(env / "photos"))
    code, out, _ = run(capsys, "search", "--image", str(photos[3]), "--json")
    assert code == 0
    top = json.loads(out)["results"][0]
    assert top["uri"] == str(photos[3]) and top["score"] > 0.999


def test_search_where_filter_and_min_score(env, capsys):
    write_photos(env / "photos", 8)
    run(capsys, "index", str(env / "photos"))
    code, out, _ = run(capsys, "search", "--text", "x", "--where", "format = 'PNG'", "--json")
    assert code == 0 and {r["uri"][-4:] for r in json.loads(out)["results"]} == {".png"}
    code, out, _ = run(capsys, "search", "--text", "x", "--min-score", "1.01", "--json")
    assert code == 0 and json.loads(out)["results"] == []


def test_search_with_bad_filter_is_one_line_error(env, capsys):
    write_photos(env / "photos", 2)
    run(capsys, "index", str(env / "photos"))
    code, _, err = run(capsys, "search", "--text", "x", "--where", "format = = 'PNG'")
    assert code == 2 and err.startswith("error: invalid filter") and err.count("\n") == 1


def test_search_before_indexing_says_how_to_index(env, capsys):
    code, _, err = run(capsys, "search", "--text", "x")
    assert code == 2 and "index some images first" in err


def test_search_needs_exactly_one_query(env, capsys):
    assert run(capsys, "search")[0] == 2
    assert run(capsys, "search", "--text", "a", "--image", "b.jpg")[0] == 2


def test_search_with_another_model_names_both(env, capsys, tmp_path):
    write_photos(env / "photos", 2)
    run(capsys, "index", str(env / "photos"))
    from tests.model_factory import build_random_clip
    other = build_random_clip(tmp_path / "other-model", seed=1)
    code, _, err = run(capsys, "search", "--text", "x", "--model", str(other))
    assert code == 2 and str(other) in err and os.environ["IMAGESEARCH_MODEL"] in err


def test_delete_needs_confirmation_then_deletes(env, capsys, monkeypatch):
    write_photos(env / "photos", 6)
    run(capsys, "index", str(env / "photos"))
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = run(capsys, "delete", "--where", "format = 'PNG'")
    assert code == 2 and "would delete 3" in err
    code, out, _ = run(capsys, "delete", "--where", "format = 'PNG'", "--yes")
    assert code == 0 and "deleted 3" in out
    _, out, _ = run(capsys, "query", "--select", "id", "--json")
    [first] = json.loads(out)["rows"][:1]
    code, out, _ = run(capsys, "delete", "--id", first["id"], "--yes")
    assert code == 0 and "deleted 1" in out
    _, out, _ = run(capsys, "stats", "--json")
    assert json.loads(out)["rows"] == 2


def test_query_json_selects_and_limits(env, capsys):
    write_photos(env / "photos", 5)
    run(capsys, "index", str(env / "photos"))
    code, out, _ = run(capsys, "query", "--where", "format = 'JPEG'", "--select", "file_name,format", "--limit", "2", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["count"] == 2
    assert all(set(r) == {"file_name", "format"} and r["format"] == "JPEG" for r in doc["rows"])


def test_missing_model_weights_is_one_sentence_with_the_fix(env, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", str(env / "no-such-model"))
    write_photos(env / "photos", 1)
    code, _, err = run(capsys, "index", str(env / "photos"))
    assert code == 2 and "IMAGESEARCH_MODEL" in err and err.count("\n") == 1


def test_module_entry_point_prints_json_and_logs_to_stderr(env):
    """The real `python -m pipeline` process: stdout holds exactly one JSON document."""
    write_photos(env / "photos", 3)
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    indexed = subprocess.run([sys.executable, "-m", "pipeline", "index", str(env / "photos")],
                             capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)
    assert indexed.returncode == 0, indexed.stderr
    stats = subprocess.run([sys.executable, "-m", "pipeline", "stats", "--json", "--db", str(env / "db")],
                           capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)
    assert stats.returncode == 0 and json.loads(stats.stdout)["rows"] == 3
    bad = subprocess.run([sys.executable, "-m", "pipeline", "stats", "--db", str(env / "empty")],
                         capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error:") and bad.stdout == ""


def test_demo_indexes_the_bundled_sample_photos(env, capsys):
    code, out, _ = run(capsys, "demo", "--samples", str(env / "samples"), "--no-dashboard")
    assert code == 0
    copied = [p for p in (env / "samples").iterdir()]
    assert len(copied) >= 20
    _, stats, _ = run(capsys, "stats", "--json")
    assert json.loads(stats)["rows"] == len(copied)  # every sample is a photo that indexes


def test_read_only_environment_refuses_writes_but_allows_reads(env, capsys, monkeypatch):
    write_photos(env / "photos", 3)
    run(capsys, "index", str(env / "photos"))
    monkeypatch.setenv("IMAGESEARCH_READ_ONLY", "1")
    code, _, err = run(capsys, "delete", "--where", "true", "--yes")
    assert code == 2 and "read-only" in err
    code, _, err = run(capsys, "index", str(env / "photos"))
    assert code == 2 and "read-only" in err
    code, _, err = run(capsys, "optimize", "--retention-days", "0")
    assert code == 2 and "read-only" in err
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["rows"] == 3 and json.loads(out)["versions"] > 1


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(env, capsys):
    write_photos(env / "photos", 3)
    run(capsys, "index", str(env / "photos"))
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    piped = subprocess.run(f"{sys.executable} -m pipeline search --text x --json | head -c 1",
                           shell=True, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


@pytest.mark.parametrize("argv, code, reason", [
    (["search", "--text", "x", "--where", "file_name = $$abc$$"], 2, "'$' is not allowed"),
    (["query", "--where", "file_name = $$abc$$"], 2, "'$' is not allowed"),
    (["delete", "--where", "file_name = $$abc$$", "--yes"], 2, "'$' is not allowed"),
    (["search", "--text", "x", "--k", "99999999999999999999"], 2, "--k must be between 1 and"),
    (["optimize", "--retention-days", "1e300"], 2, "--retention-days must be a number of days"),
    (["optimize", "--retention-days", "nan"], 2, "--retention-days must be a number of days"),
    (["query", "SELECT sum(range) FROM range(400000000000)", "--timeout", "0.5"], 2, "time limit"),
])
def test_hostile_arguments_are_one_line_errors_with_the_right_exit_code(env, capsys, argv, code, reason):
    write_photos(env / "photos", 2)
    run(capsys, "index", str(env / "photos"))
    got, out, err = run(capsys, *argv)
    assert got == code and reason in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert json.loads(run(capsys, "stats", "--json")[1])["rows"] == 2


def test_query_prints_an_infinite_timestamp_instead_of_failing(env, capsys):
    write_photos(env / "photos", 1)
    run(capsys, "index", str(env / "photos"))
    code, out, _ = run(capsys, "query", "SELECT TIMESTAMP 'infinity' AS t", "--json")
    assert code == 0 and json.loads(out)["rows"] == [{"t": "infinity"}]


def test_a_filter_that_would_allocate_45_gb_leaves_the_process_alive(env, capsys):
    """Before the guard, this aborted the process (Rust allocator: exit 134)."""
    write_photos(env / "photos", 2)
    run(capsys, "index", str(env / "photos"))
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in (["query"], ["delete", "--yes"]):  # search checks its filter in the same place
        done = subprocess.run([sys.executable, "-m", "pipeline", *command, "--where",
                               "length(repeat(file_name, 100000000)) > 0"],
                              capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().startswith("error: function repeat() is not allowed in a filter")
    assert json.loads(run(capsys, "stats", "--json")[1])["rows"] == 2


def test_a_file_dated_in_the_year_10000_is_indexed_with_an_unknown_mtime(env, capsys):
    """ext4 cannot store such a time; tmpfs (/dev/shm) can."""
    import shutil
    import tempfile
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("needs a tmpfs at /dev/shm")
    folder = tempfile.mkdtemp(dir="/dev/shm")
    try:
        photos = write_photos(folder, 2)
        os.utime(photos[0], (253402300800 * 1.5,) * 2)  # year ~14000
        if os.stat(photos[0]).st_mtime < 253402300800:
            pytest.skip("this filesystem cannot store a time after the year 9999")
        code, out, err = run(capsys, "index", folder, "--json")
        assert code == 0 and json.loads(out)["indexed"] == 2, err
        rows = {r["file_name"]: r["mtime"] for r in run_query_rows(capsys)}
        assert rows[photos[0].name] is None and rows[photos[1].name] is not None
        code, out, _ = run(capsys, "index", folder, "--json")  # and every rerun
        assert code == 0 and json.loads(out)["skipped"] == 2
    finally:
        shutil.rmtree(folder)


def run_query_rows(capsys):
    code, out, _ = run(capsys, "query", "--select", "file_name,mtime", "--json")
    assert code == 0
    return json.loads(out)["rows"]
