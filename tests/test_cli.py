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
    assert json.loads(stats)["rows"] >= 20


def test_read_only_environment_refuses_writes_but_allows_reads(env, capsys, monkeypatch):
    write_photos(env / "photos", 3)
    run(capsys, "index", str(env / "photos"))
    monkeypatch.setenv("IMAGESEARCH_READ_ONLY", "1")
    code, _, err = run(capsys, "delete", "--where", "true", "--yes")
    assert code == 2 and "read-only" in err
    code, _, err = run(capsys, "index", str(env / "photos"))
    assert code == 2 and "read-only" in err
    code, out, _ = run(capsys, "stats", "--json")
    assert code == 0 and json.loads(out)["rows"] == 3


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error(env, capsys):
    write_photos(env / "photos", 3)
    run(capsys, "index", str(env / "photos"))
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    piped = subprocess.run(f"{sys.executable} -m pipeline search --text x --json | head -c 1",
                           shell=True, capture_output=True, text=True, cwd=ROOT, env=environment, timeout=300)
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
