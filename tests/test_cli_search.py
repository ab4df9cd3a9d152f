"""CLI for search at scale: composed queries, more like this, optimize, duplicates and SQL queries."""

import json

import numpy as np
import pytest
from PIL import Image

from pipeline.cli import main
from store import ImageLibrary
from tests.sample_images import write_photos


@pytest.fixture
def env(tmp_path, tiny_clip_dir, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    return tmp_path


@pytest.fixture
def photos(env, capsys):
    paths = write_photos(env / "photos", 8)
    assert main(["index", str(env / "photos")]) == 0
    capsys.readouterr()
    return paths


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_composed_query_weights_negatives_and_several_images(photos, capsys):
    code, out, _ = run(capsys, "search", "--text", "beach", "--text", "-people", "--image", f"{photos[0]}:0.5",
                       "--image", str(photos[1]), "--k", "3", "--json")
    doc = json.loads(out)
    assert code == 0 and len(doc["results"]) == 3
    assert [(t["kind"], t["weight"]) for t in doc["query"]["terms"]] == \
        [("text", 1.0), ("text", -1.0), ("image", 0.5), ("image", 1.0)]
    assert doc["query"]["terms"][1]["value"] == "people"


def test_rclip_style_expression_mixes_text_and_image_terms(photos, capsys):
    code, out, _ = run(capsys, "search", f"beach + sunset - people:0.5 + {photos[2]}:2", "--json")
    terms = json.loads(out)["query"]["terms"]
    assert code == 0
    assert [(t["kind"], t["value"], t["weight"]) for t in terms] == [
        ("text", "beach", 1.0), ("text", "sunset", 1.0), ("text", "people", -0.5), ("image", str(photos[2]), 2.0)]


def test_an_image_term_alone_finds_that_image_first(photos, capsys):
    code, out, _ = run(capsys, "search", str(photos[4]), "--json")
    assert code == 0 and json.loads(out)["results"][0]["uri"] == str(photos[4])


def test_more_like_this_by_id_or_prefix_excludes_the_image_itself(photos, capsys):
    _, out, _ = run(capsys, "query", "--select", "id,uri", "--json")
    first = json.loads(out)["rows"][0]
    for ref in (first["id"], first["id"][:10]):
        code, out, _ = run(capsys, "search", "--like", ref, "--k", "7", "--json")
        results = json.loads(out)["results"]
        assert code == 0 and len(results) == 7 and first["id"] not in {r["id"] for r in results}


def test_unknown_like_id_and_negative_only_queries_are_one_line_errors(photos, capsys):
    code, _, err = run(capsys, "search", "--like", "abcdef0123", "--json")
    assert code == 2 and "no image with id" in err and err.count("\n") == 1
    code, _, err = run(capsys, "search", "--text", "-people")
    assert code == 2 and "positive term" in err and err.count("\n") == 1
    code, _, err = run(capsys, "search", "--image", "missing.jpg:0.5")
    assert code == 2 and "missing.jpg" in err


def test_duplicates_groups_a_resized_copy_with_its_original(photos, env, capsys):
    copy = env / "more" / "copy.png"
    copy.parent.mkdir()
    Image.open(photos[3]).resize((128, 96)).save(copy)
    run(capsys, "index", str(copy.parent))
    code, out, _ = run(capsys, "duplicates", "--threshold", "0.97", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["count"] >= 1
    group = next(g for g in doc["groups"] if str(copy) in {i["uri"] for i in g["images"]})
    assert {i["uri"] for i in group["images"]} == {str(copy), str(photos[3])}
    assert group["images"][0]["uri"] == str(copy)  # the larger image first
    code, out, err = run(capsys, "duplicates")
    assert code == 0 and "group 1:" in out and "near-duplicates" in err
    assert run(capsys, "duplicates", "--threshold", "2")[0] == 2


def test_query_runs_read_only_sql_and_keeps_the_listing_form(photos, capsys):
    code, out, _ = run(capsys, "query", "SELECT format, count(*) AS n FROM images GROUP BY format ORDER BY format",
                       "--json")
    doc = json.loads(out)
    assert code == 0 and sum(r["n"] for r in doc["rows"]) == 8 and {r["format"] for r in doc["rows"]} == {"JPEG", "PNG"}
    code, out, _ = run(capsys, "query", "--where", "format = 'PNG'", "--select", "format", "--json")
    assert code == 0 and {r["format"] for r in json.loads(out)["rows"]} == {"PNG"}


@pytest.mark.parametrize("sql, message", [
    ("DELETE FROM images", "only read-only SELECT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "query failed"),
    ("SELECT 1; SELECT 2", "exactly one SELECT"),
    ("SELEKT 1", "syntax error"),
])
def test_query_refuses_writes_and_file_access_in_one_line(photos, capsys, sql, message):
    code, out, err = run(capsys, "query", sql)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert run(capsys, "stats", "--json")[0] == 0


def test_optimize_keeps_small_tables_exact_and_indexes_large_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    library = ImageLibrary(str(tmp_path / "db"))
    library.ensure("test/model", 16)
    rng = np.random.default_rng(0)
    library.add([{"id": f"{i:064x}", "uri": f"{i}.jpg", "format": "JPEG", "vector": rng.normal(size=16)}
                 for i in range(600)])
    code, out, _ = run(capsys, "optimize", "--json")
    report = json.loads(out)
    assert code == 0 and report["vector_index"] == "none (exact search)" and report["status"]["search"] == "exact"
    code, out, _ = run(capsys, "optimize", "--index-threshold", "500", "--json")
    report = json.loads(out)
    assert code == 0 and report["vector_index"] == "built" and report["status"]["search"]["index_type"] == "IVF_SQ"
    code, out, _ = run(capsys, "optimize", "--status")
    assert code == 0 and "IVF_SQ" in out and "vector_idx" in out
    code, out, _ = run(capsys, "optimize", "--index-threshold", "500")
    assert code == 0 and "refreshed" in out
    assert run(capsys, "optimize", "--index-threshold", "10")[0] == 2


def test_index_optimizes_the_table_once_it_crosses_the_threshold(tmp_path, tiny_clip_dir, capsys, monkeypatch):
    """Bulk jobs call optimize_if_large: past the threshold the table gets its indexes."""
    import store.indexes
    from pipeline.cli import main
    from store import ImageLibrary
    from tests.sample_images import write_photos

    monkeypatch.setattr(store.indexes, "INDEX_THRESHOLD", 5)
    write_photos(tmp_path / "photos", 6)
    assert main(["index", str(tmp_path / "photos"), "--db", str(tmp_path / "db"), "--model", tiny_clip_dir,
                 "--runner", "local"]) == 0
    assert "optimized 6 rows" in capsys.readouterr().err
    names = {getattr(i, "name", str(i)) for i in ImageLibrary(str(tmp_path / "db")).table.list_indices()}
    assert any("id" in n for n in names)


def test_verbose_search_names_its_path_and_stats_show_the_vector_cache(photos, capsys, caplog):
    import logging

    with caplog.at_level(logging.DEBUG, logger="store.search_paths"):
        code, _, _ = run(capsys, "search", "--text", "beach", "--where", "format = 'JPEG'", "-v")
    # one search per process: LanceDB answers it, loading the cache would cost more than it saves
    assert code == 0 and "path lancedb-exact (the first search" in caplog.text
    _, out, _ = run(capsys, "stats")
    assert "search     cache (vector cache not loaded" in out
    _, out, _ = run(capsys, "stats", "--json")
    doc = json.loads(out)
    assert doc["search_path"] == "cache" and doc["vector_cache"]["budget_bytes"] == 1024 * 2**20
