"""CLI: delete by id prefix, no empty versions, `versions` and `restore`, no stray folders, honest
query timing, and a demo that opens the dashboard in browse-only mode without a model."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.dashboard_support import ROOT, free_port
from tests.sample_images import write_photos
from tests.test_cli import env, run  # noqa: F401


@pytest.fixture
def indexed(env, capsys):
    write_photos(env / "photos", 6)
    assert run(capsys, "index", str(env / "photos"))[0] == 0
    return env


def ids(capsys):
    return [r["id"] for r in json.loads(run(capsys, "query", "--select", "id", "--json")[1])["rows"]]


def versions(capsys, *extra):
    return json.loads(run(capsys, "versions", "--json", *extra)[1])


def test_delete_accepts_a_unique_id_prefix_and_refuses_unknown_or_ambiguous_ones(indexed, capsys):
    first = ids(capsys)[0]
    code, out, _ = run(capsys, "delete", "--id", first[:10], "--yes")
    assert code == 0 and "deleted 1" in out and first not in ids(capsys)
    code, _, err = run(capsys, "delete", "--id", first[:10], "--yes")
    assert code == 2 and "no image with id" in err
    code, _, err = run(capsys, "delete", "--id", "zz", "--yes")
    assert code == 2 and "--id takes an image id" in err
    assert len(ids(capsys)) == 5


def test_a_delete_that_matches_nothing_adds_no_version(indexed, capsys):
    before = versions(capsys, "--all")["current"]
    code, out, _ = run(capsys, "delete", "--where", "file_name = 'nothing.jpg'", "--yes")
    assert code == 0 and "deleted 0" in out
    assert versions(capsys, "--all")["current"] == before


def test_versions_say_what_each_did_and_restore_warns_then_restores(indexed, capsys, monkeypatch):
    before = versions(capsys)["current"]
    run(capsys, "delete", "--where", "format = 'PNG'", "--yes")
    history = versions(capsys)["versions"]
    assert [v["operation"] for v in history][-1] == "deleted" and history[-1]["removed"] == 3
    code, out, _ = run(capsys, "versions")
    assert code == 0 and "deleted" in out and "-3" in out and "(current)" in out
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = run(capsys, "restore", str(before))
    assert code == 2 and "removes 0 image(s) and brings back 3" in err
    code, out, _ = run(capsys, "restore", str(before), "--yes")
    assert code == 0 and "the library has 6 images" in out
    code, _, err = run(capsys, "restore", "999", "--yes")
    assert code == 2 and "does not exist" in err


def test_stats_on_a_missing_database_creates_no_folder(env, capsys, tmp_path):
    missing = tmp_path / "typo" / "db"
    code, _, err = run(capsys, "stats", "--db", str(missing))
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "typo").exists()


def test_search_time_excludes_loading_the_model(indexed, capsys, monkeypatch):
    """Loading the model advances a fake clock by 1000 s: had the timed window held the load, the
    reported time would be at least that (a counted event, not a guessed delay)."""
    import transformers

    real = transformers.AutoModel.from_pretrained
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])

    def slow_load(*args, **kwargs):  # loading is the slow part a person waits for once
        clock[0] += 1000.0
        return real(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", slow_load)
    code, out, _ = run(capsys, "search", "--text", "a photo", "--json")
    assert clock[0] >= 1000.0, "the model was not loaded by the search"
    assert code == 0 and json.loads(out)["took_ms"] < 1000 * 1000


def test_the_demo_without_a_model_opens_the_dashboard_in_browse_only_mode(env, tmp_path):
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "IMAGESEARCH_MODEL": str(tmp_path / "no-model"),
                   "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "demo", "--samples", str(tmp_path / "samples"),
                                "--port", str(port)], cwd=ROOT, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # its own group: the dashboard child stops with it
    lines = []
    try:
        # Streamlit prints its URL once it serves: read until that line (EOF if the demo exits first).
        for line in process.stdout:
            lines.append(line)
            if "URL:" in line and f":{port}" in line:
                break
        assert process.poll() is None, "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=30) as response:
            assert response.status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the demo and the streamlit it started
        output = "".join(lines) + process.communicate(timeout=30)[0]
    assert "browse-only" in output
