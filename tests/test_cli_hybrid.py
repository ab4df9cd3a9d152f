"""CLI: search modes, provenance, paging, sorting and batch queries over a real table and the tiny CLIP."""

import json
import logging

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.encoder import ClipEncoder
from pipeline.query_cache import CachedTextEncoder, TextVectorCache
from tests.sample_images import write_photos


@pytest.fixture
def env(tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    return tmp_path


@pytest.fixture
def library_dirs(env, capsys):
    """Eight plain photos, and three more whose description and tag name a place they do not show."""
    plain = write_photos(env / "plain", 8)
    trip = write_photos(env / "trip", 3, start=100)
    assert main(["index", str(env / "plain")]) == 0
    assert main(["index", str(env / "trip"), "--description", "Grandmother's birthday in Lisbon",
                 "--tag", "holiday"]) == 0
    capsys.readouterr()
    return {"plain": [str(p) for p in plain], "trip": [str(p) for p in trip]}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def search_json(capsys, *argv):
    code, out, err = run(capsys, "search", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_keyword_mode_finds_the_images_by_a_word_only_their_description_has(library_dirs, capsys):
    doc = search_json(capsys, "--text", "lisbon", "--mode", "keyword")
    assert sorted(r["uri"] for r in doc["results"]) == sorted(library_dirs["trip"])
    assert all(r["found_by"] == ["keyword"] for r in doc["results"])


def test_hybrid_is_the_default_after_indexing_and_labels_each_result(library_dirs, capsys):
    doc = search_json(capsys, "--text", "lisbon", "--k", "11", "--no-cutoff")
    assert doc["mode"] == "hybrid"
    by_uri = {r["uri"]: r["found_by"] for r in doc["results"]}
    assert set(by_uri) == set(library_dirs["plain"] + library_dirs["trip"])
    assert all("keyword" in by_uri[u] for u in library_dirs["trip"])
    assert all(by_uri[u] == ["semantic"] for u in library_dirs["plain"])


def test_semantic_mode_needs_no_matching_word(library_dirs, capsys):
    doc = search_json(capsys, "--text", "a red square", "--mode", "semantic", "--k", "4", "--no-cutoff")
    assert len(doc["results"]) == 4 and all(r["found_by"] == ["semantic"] for r in doc["results"])


def test_a_filter_cuts_both_sides(library_dirs, capsys):
    doc = search_json(capsys, "--text", "lisbon", "--k", "20", "--no-cutoff", "--where", "format = 'PNG'")
    assert doc["results"] and all(r["format"] == "PNG" for r in doc["results"])
    assert {r["uri"] for r in doc["results"] if "keyword" in r["found_by"]} == \
        {u for u in library_dirs["trip"] if u.endswith(".png")}


def test_page_two_continues_page_one(library_dirs, capsys):
    whole = [r["id"] for r in search_json(capsys, "--text", "lisbon", "--k", "8", "--no-cutoff")["results"]]
    first = search_json(capsys, "--text", "lisbon", "--k", "4", "--page", "1", "--no-cutoff")
    second = search_json(capsys, "--text", "lisbon", "--k", "4", "--page", "2", "--no-cutoff")
    assert [r["id"] for r in first["results"] + second["results"]] == whole
    assert first["has_more"] and second["offset"] == 4


def test_sort_by_file_name_and_unknown_sort_keys(library_dirs, capsys):
    doc = search_json(capsys, "--text", "lisbon", "--k", "11", "--no-cutoff", "--sort", "file_name")
    names = [r["file_name"] for r in doc["results"]]
    assert names == sorted(names)
    code, _, err = run(capsys, "search", "--text", "lisbon", "--sort", "colour")
    assert code == 2 and err.count("\n") == 1 and "cannot sort by 'colour'" in err


def test_offset_and_page_together_are_refused(library_dirs, capsys):
    code, _, err = run(capsys, "search", "--text", "x", "--offset", "3", "--page", "2")
    assert code == 2 and "not both" in err


def test_queries_file_prints_one_json_line_per_query(library_dirs, capsys, env):
    path = env / "queries.jsonl"
    path.write_text('lisbon\n\n# a comment\n{"text": "holiday", "mode": "keyword", "k": 2}\n'
                    '{"text": "a blue circle", "mode": "semantic", "k": 3, "cutoff": false}\n')
    code, out, err = run(capsys, "search", "--queries", str(path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(d["line"], d["query"], d["mode"]) for d in lines] == \
        [(1, "lisbon", "hybrid"), (4, "holiday", "keyword"), (5, "a blue circle", "semantic")]
    assert len(lines[1]["results"]) == 2 and lines[1]["has_more"]
    assert len(lines[2]["results"]) == 3


def test_a_bad_queries_line_is_one_line_naming_it(library_dirs, capsys, env):
    path = env / "queries.jsonl"
    path.write_text('lisbon\n{"text": "x", "colour": "red"}\n')
    code, out, err = run(capsys, "search", "--queries", str(path))
    assert code == 2 and out == "" and err.count("\n") == 1 and "line 2: unknown option(s) colour" in err


def test_repeated_text_queries_hit_the_cache_and_the_rate_is_logged(tiny_clip_dir, caplog):
    encoder = ClipEncoder(tiny_clip_dir, device="cpu")
    cache = TextVectorCache(maxsize=2)
    cached = CachedTextEncoder(encoder, cache)
    with caplog.at_level(logging.DEBUG, logger="pipeline.query_cache"):
        first = cached.encode_texts(["a cat", "a dog"])
        again = cached.encode_texts(["a dog", "a cat"])
    np.testing.assert_allclose(again, first[::-1])
    np.testing.assert_allclose(first, encoder.encode_texts(["a cat", "a dog"]), atol=1e-6)
    assert (cache.hits, cache.misses) == (2, 2) and "hit rate 50%" in caplog.text
    cached.encode_texts(["a bird"])  # bounded: the least recently used ("a dog") goes
    cached.encode_texts(["a dog"])
    assert cache.misses == 4 and len(cache) == 2
