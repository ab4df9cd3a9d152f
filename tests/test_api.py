"""The HTTP API, against the real server: `python -m pipeline serve` (uvicorn) in a subprocess on a free
loopback port, over a real LanceDB table and a tiny random CLIP loaded through from_pretrained."""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import requests

from pipeline.cli import main
from store import ImageLibrary
from tests.api_server import ApiServer
from tests.dashboard_support import PHOTOS, build_library, jpeg_bytes

pytestmark = pytest.mark.timeout(600)
READER, WRITER, LIMITED = "reader-key-0001", "writer-key-0001", "limited-key-0001"
BURST = 5
ORIGIN = "https://photos.example"


def _crafted_row(data: bytes, uri: str, dim: int, seed: int) -> dict:
    """A row whose uri we choose: the store keeps whatever uri a writer gives it."""
    from pipeline.images import decode_image
    from pipeline.ingest.item import Item
    from pipeline.ingest.rows import item_row

    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    row = item_row(Item(uri=uri, decoded=decode_image(data, uri), vector=vector / np.linalg.norm(vector)))
    row["uri"] = uri
    return row


@pytest.fixture(scope="module")
def library_root(tmp_path_factory, tiny_clip_dir):
    """8 indexed photos under root/photos, plus rows whose originals lie outside the served folder:
    one through `..`, one absolute, one through a symlink inside the folder."""
    root = tmp_path_factory.mktemp("api")
    db = build_library(root, tiny_clip_dir)
    secret = root / "secret"
    secret.mkdir()
    for name, seed in (("dotdot.jpg", 900), ("absolute.jpg", 901), ("linked.jpg", 902)):
        (secret / name).write_bytes(jpeg_bytes(seed))
    (root / "photos" / "link.jpg").symlink_to(secret / "linked.jpg")
    library = ImageLibrary(str(db))
    dim = library.model_info()[1]
    uris = {"dotdot": f"{root}/photos/../secret/dotdot.jpg", "absolute": str(secret / "absolute.jpg"),
            "symlink": str(root / "photos" / "link.jpg")}
    rows = [_crafted_row(jpeg_bytes(seed), uri, dim, seed) for uri, seed in zip(uris.values(), (900, 901, 902))]
    library.add(rows)
    return {"root": root, "db": str(db), "outside": {name: row["id"] for name, row in zip(uris, rows)}}


def _env(library_root, tiny_clip_dir, **extra) -> dict[str, str]:
    return {"IMAGESEARCH_DB": library_root["db"], "IMAGESEARCH_MODEL": tiny_clip_dir,
            "IMAGESEARCH_API_ROOTS": str(library_root["root"] / "photos"), "IMAGESEARCH_API_RATE": "0", **extra}


@pytest.fixture(scope="module")
def api(library_root, tiny_clip_dir):
    """A read-write server without keys, with small limits so each one can be reached in a test."""
    env = _env(library_root, tiny_clip_dir, IMAGESEARCH_MAX_FILE_MB="0.1", IMAGESEARCH_API_MAX_UPLOAD_MB="1",
               IMAGESEARCH_API_SQL_ROWS="5", IMAGESEARCH_API_SQL_TIMEOUT="1")
    with ApiServer(env) as server:
        yield server


def get(server, path, **kw):
    return requests.get(server.url + path, timeout=60, **kw)


def post(server, path, **kw):
    return requests.post(server.url + path, timeout=60, **kw)


def assert_error(response, status: int, fragment: str = ""):
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    assert fragment in body["error"], body["error"]


def some_id(server) -> str:
    return get(server, "/search?query=photo&k=1").json()["results"][0]["id"]


# --- reading -------------------------------------------------------------------------------------

def test_health_reports_the_table_rows_and_the_loaded_model(api, tiny_clip_dir):
    health = get(api, "/health").json()
    assert health["status"] == "ok" and health["table"]["exists"] and health["table"]["rows"] >= PHOTOS
    assert health["model"] == {"id": tiny_clip_dir, "loaded": True, "error": None}
    assert health["read_only"] is False and health["auth"] is False


def test_text_search_answers_the_same_document_as_the_cli(api, library_root, tiny_clip_dir, capsys):
    served = get(api, "/search", params={"query": "a red square", "k": 4}).json()
    assert main(["search", "--text", "a red square", "--k", "4", "--json", "--db", library_root["db"],
                 "--model", tiny_clip_dir]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(served) == set(printed) and {"query", "took_ms", "results", "mode", "has_more"} <= set(served)
    assert served["query"] == printed["query"]
    assert [r["id"] for r in served["results"]] == [r["id"] for r in printed["results"]]
    assert [set(r) for r in served["results"]] == [set(r) for r in printed["results"]]
    assert np.allclose([r["score"] for r in served["results"]], [r["score"] for r in printed["results"]], atol=1e-5)


def test_composed_search_weighs_terms_filters_and_pages(api):
    # cutoff off: a tiny random model's scores spread far wider than CLIP's
    body = {"terms": [{"text": "beach"}, {"text": "people", "weight": -0.5}], "k": 4, "filters": {"tags": ["even"]},
            "cutoff": False}
    first = post(api, "/search", json=body).json()
    assert [(t["value"], t["weight"]) for t in first["query"]["terms"]] == [("beach", 1.0), ("people", -0.5)]
    assert len(first["results"]) == 4 and all("even" in r["tags"] for r in first["results"])
    page = post(api, "/search", json={**body, "k": 2, "offset": 2}).json()
    assert [r["id"] for r in page["results"]] == [r["id"] for r in first["results"][2:4]]
    only_png = post(api, "/search", json={"query": "x", "where": "format = 'PNG'", "k": 20}).json()["results"]
    assert only_png and {r["format"] for r in only_png} == {"PNG"}


def test_a_precomputed_vector_finds_the_row_it_came_from(api, library_root):
    target = some_id(api)
    vector = ImageLibrary(library_root["db"]).get(target, with_vector=True)["vector"]
    hits = post(api, "/search", json={"vector": list(map(float, vector)), "k": 3}).json()["results"]
    assert hits[0]["id"] == target and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert_error(post(api, "/search", json={"vector": [1.0, 2.0], "k": 3}), 400, "table expects")


def test_more_like_this_by_id_prefix_excludes_the_image_itself(api):
    target = some_id(api)
    hits = get(api, "/search", params={"like": target[:10], "k": 5}).json()["results"]
    assert len(hits) == 5 and target not in {h["id"] for h in hits}
    assert_error(get(api, "/search", params={"like": "abcdef0123"}), 404, "no image with id")


def test_search_by_image_finds_the_same_photo_first(api, library_root):
    photo = library_root["root"] / "photos" / "photo_0003.png"
    found = post(api, "/search-by-image", files={"file": ("q.png", photo.read_bytes())}, params={"k": 3}).json()
    assert found["results"][0]["uri"] == str(photo) and found["query"]["image"] == "q.png"
    in_json = post(api, "/search", json={"terms": [{"image": base64.b64encode(photo.read_bytes()).decode()}]}).json()
    assert in_json["results"][0]["uri"] == str(photo)


def test_bad_queries_are_one_line_errors_with_their_status(api):
    assert_error(get(api, "/search", params={"query": "x", "where": "width >> 'a"}), 400, "filter")
    assert_error(get(api, "/search", params={"query": "x", "where": "1=1) OR (1=1"}), 400, "parentheses")
    assert_error(get(api, "/search", params={"query": "x", "mode": "fuzzy"}), 400, "search mode 'fuzzy'")
    assert_error(get(api, "/search"), 400, "give a query")
    assert_error(get(api, "/search", params={"query": "x", "k": 0}), 422, "k")
    assert_error(post(api, "/search", json={"terms": [{"text": "a", "id": "abcdef"}]}), 422, "exactly one")
    assert_error(post(api, "/search", data="not json", headers={"Content-Type": "application/json"}), 422)
    assert_error(post(api, "/search", json={"terms": [{"text": "a", "weight": -1}]}), 400, "positive term")
    assert_error(post(api, "/search", json={"terms": [{"image": "%%%"}]}), 400, "base64")
    assert_error(post(api, "/search-by-image", files={"file": ("notes.jpg", b"just text")}), 400, "not an image")
    assert_error(get(api, "/no/such/endpoint"), 404)


def test_image_metadata_thumbnail_and_original(api, library_root):
    target = some_id(api)
    meta = get(api, f"/images/{target[:12]}").json()
    assert meta["id"] == target and "thumbnail" not in meta and "vector" not in meta
    thumbnail = get(api, f"/images/{target}/thumbnail")
    assert thumbnail.headers["content-type"] == "image/jpeg" and thumbnail.content[:2] == b"\xff\xd8"
    original = get(api, f"/images/{target}/original")
    assert original.status_code == 200 and original.content == Path(meta["uri"]).read_bytes()
    assert_error(get(api, f"/images/{'0' * 64}"), 404, "no image with id")
    assert_error(get(api, "/images/not-hex/thumbnail"), 400, "hex")


def test_original_refuses_files_outside_the_served_folders(api, library_root):
    for name, image_id in library_root["outside"].items():
        response = get(api, f"/images/{image_id}/original")
        assert_error(response, 403, "outside the folders")
    # Traversal in the request itself never reaches a file: the id must be hex and '/' never matches it.
    secret = str(library_root["root"] / "secret" / "absolute.jpg")
    for raw in ("/images/../../../etc/passwd/original", "/images/..%2F..%2Fetc%2Fpasswd/original",
                "/images/%2E%2E/original", f"/images/{secret}/original", f"/images/%2F{secret[1:]}/original"):
        connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=30)
        connection.request("GET", raw)  # sent as is, not normalised by a client
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status in (400, 404), (raw, response.status)
        assert list(json.loads(body)) == ["error"] and b"root:" not in body


def test_stats_is_the_cli_stats_document(api, library_root, capsys):
    served = get(api, "/stats").json()
    assert main(["stats", "--json", "--db", library_root["db"]]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(served) == set(printed) and served["rows"] == printed["rows"] and served["dim"] == printed["dim"]


def test_query_runs_read_only_sql_capped_in_rows(api):
    grouped = post(api, "/query", json={"sql": "SELECT format, count(*) AS n FROM images GROUP BY format ORDER BY format"})
    assert grouped.status_code == 200 and {r["format"] for r in grouped.json()["rows"]} == {"JPEG", "PNG"}
    capped = post(api, "/query", json={"sql": "SELECT id FROM images", "limit": 500}).json()
    assert capped["count"] == capped["limit"] == 5  # the server's cap wins over the asked limit


def test_write_sql_file_access_and_slow_sql_are_refused(api):
    assert_error(post(api, "/query", json={"sql": "DELETE FROM images"}), 400, "only read-only SELECT")
    assert_error(post(api, "/query", json={"sql": "SELECT 1; DROP TABLE images"}), 400, "exactly one SELECT")
    assert_error(post(api, "/query", json={"sql": "SELECT * FROM read_csv('/etc/passwd')"}), 400)
    slow = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range * b.range = 7"
    assert_error(post(api, "/query", json={"sql": slow}), 408, "after the 1 s time limit")
    assert_error(post(api, "/query", json={}), 422, "sql")


def test_metrics_count_requests_per_endpoint_and_report_rows(api):
    get(api, "/search", params={"query": "metrics"})
    get(api, "/images/not-hex")
    text = get(api, "/metrics").text
    assert 'imagesearch_http_requests_total{endpoint="/search",method="GET",status="200"}' in text
    assert 'imagesearch_http_requests_total{endpoint="/images/{image_id}",method="GET",status="400"}' in text
    assert 'imagesearch_http_request_seconds_bucket{endpoint="/search"' in text
    assert "imagesearch_query_encode_seconds_count" in text and "imagesearch_vector_index 0.0" in text
    rows = next(line for line in text.splitlines() if line.startswith("imagesearch_rows "))
    assert float(rows.split()[1]) >= PHOTOS
    # What start-up made is out of the collector's sight; full collections are counted.
    frozen = next(line for line in text.splitlines() if line.startswith("imagesearch_gc_frozen_objects "))
    assert float(frozen.split()[1]) > 10_000
    assert 'python_gc_collections_total{generation="2"}' in text


def test_cors_is_off_unless_origins_are_configured(api, keyed):
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization"}
    assert "access-control-allow-origin" not in get(api, "/health", headers={"Origin": ORIGIN}).headers
    allowed = requests.options(keyed.url + "/search", headers=preflight, timeout=60)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    other = requests.options(keyed.url + "/search", headers={**preflight, "Origin": "https://evil.example"}, timeout=60)
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


def test_openapi_docs_are_served(api):
    assert "swagger" in get(api, "/docs").text.lower()
    paths = get(api, "/openapi.json").json()["paths"]
    assert {"/search", "/search-by-image", "/upload", "/images/{image_id}/original", "/query"} <= set(paths)


# --- writing -------------------------------------------------------------------------------------

def test_delete_then_restore_brings_the_image_back(api):
    target = some_id(api)
    deleted = requests.delete(f"{api.url}/images/{target}", timeout=60).json()
    assert deleted["deleted"] == 1 and isinstance(deleted["restore_version"], int)
    assert_error(get(api, f"/images/{target}"), 404)
    assert_error(requests.delete(f"{api.url}/images/{target}", timeout=60), 404)
    restored = post(api, f"/images/{target}/restore").json()
    assert restored["restored"] == 1 and get(api, f"/images/{target}").json()["id"] == target
    assert post(api, f"/images/{target}/restore").json()["restored"] == 0  # already back: nothing to do
    assert_error(requests.delete(f"{api.url}/images/{target[:10]}", timeout=60), 400, "full id")
    assert_error(post(api, f"/images/{'1' * 64}/restore"), 404)


def test_upload_indexes_new_files_and_reports_each_outcome(api):
    new, again = jpeg_bytes(500), jpeg_bytes(500)
    files = [("files", ("../../evil.jpg", new)), ("files", ("copy.jpg", again)), ("files", ("notes.jpg", b"text"))]
    answer = post(api, "/upload", files=files, data={"description": "from a script", "tags": "api, test"}).json()
    assert [o["status"] for o in answer["outcomes"]] == ["indexed", "already in library", "rejected"]
    assert (answer["indexed"], answer["duplicates"], answer["rejected"]) == (1, 1, 1)
    assert answer["outcomes"][0]["name"] == "evil.jpg" and "not an image" in answer["outcomes"][2]["reason"]
    image_id = answer["outcomes"][0]["id"]
    meta = get(api, f"/images/{image_id}").json()
    assert meta["tags"] == ["api", "test"] and meta["description"] == "from a script"
    assert get(api, f"/images/{image_id}/original").content == new  # stored in the media folder, served from it
    again = post(api, "/upload", files=[("files", ("later.jpg", new))]).json()
    assert again["outcomes"][0]["status"] == "already in library"


def test_oversized_upload_and_query_image_are_413(api):
    big = os.urandom(1536 * 1024)  # over the 1 MB request limit
    assert_error(post(api, "/upload", files=[("files", ("big.jpg", big))]), 413, "larger than")
    query = os.urandom(150 * 1024)  # over the 0.1 MB decoding limit
    assert_error(post(api, "/search-by-image", files={"file": ("big.jpg", query)}), 413, "larger than")
    many = [("files", (f"{i}.jpg", b"x")) for i in range(101)]
    assert_error(post(api, "/upload", files=many), 413, "at most 100 files")


def test_concurrent_uploads_and_searches_lose_nothing(api):
    before = get(api, "/health").json()["table"]["rows"]
    uploaded, searched, failures = [], [], []

    def upload(worker: int):
        for i in range(3):
            seed = 1000 + worker * 10 + i
            response = post(api, "/upload", files=[("files", (f"w{worker}-{i}.jpg", jpeg_bytes(seed)))])
            (uploaded if response.status_code == 200 else failures).append(response.json())

    def search(worker: int):
        for i in range(8):
            response = get(api, "/search", params={"query": f"worker {worker} query {i}", "k": 5})
            (searched if response.status_code == 200 else failures).append(response.json())

    threads = [threading.Thread(target=upload, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=search, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not failures and len(searched) == 32 and len(uploaded) == 12
    ids = {a["outcomes"][0]["id"] for a in uploaded}
    assert all(a["outcomes"][0]["status"] == "indexed" for a in uploaded) and len(ids) == 12
    assert get(api, "/health").json()["table"]["rows"] == before + 12
    assert all(get(api, f"/images/{i}").status_code == 200 for i in ids)


# --- access control, read-only, no model ---------------------------------------------------------

@pytest.fixture(scope="module")
def keyed(library_root, tiny_clip_dir):
    env = _env(library_root, tiny_clip_dir, IMAGESEARCH_API_KEYS=f"{READER}:read,{WRITER}:write,{LIMITED}:read",
               IMAGESEARCH_API_RATE="0.001", IMAGESEARCH_API_BURST=str(BURST), IMAGESEARCH_API_CORS=ORIGIN)
    with ApiServer(env) as server:
        yield server


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_without_a_key_or_with_an_unknown_key_every_endpoint_but_health_is_401(keyed):
    assert get(keyed, "/health").json()["auth"] is True
    for path in ("/search?query=x", "/stats", "/metrics", f"/images/{'a' * 64}"):
        response = get(keyed, path)
        assert_error(response, 401, "API key is required")
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert_error(get(keyed, path, headers=bearer("not-a-real-key")), 401, "unknown API key")
    assert_error(post(keyed, "/query", json={"sql": "SELECT 1"}, headers={"X-API-Key": "wrong-key-0000"}), 401)


def test_a_read_key_reads_but_cannot_write(keyed):
    assert get(keyed, "/search", params={"query": "x", "k": 1}, headers={"X-API-Key": READER}).status_code == 200
    response = requests.delete(f"{keyed.url}/images/{'a' * 64}", headers=bearer(READER), timeout=60)
    assert_error(response, 403, "scope 'read'")
    assert_error(post(keyed, "/upload", files=[("files", ("a.jpg", b"x"))], headers=bearer(READER)), 403)


def test_a_write_key_may_write(keyed):
    response = requests.delete(f"{keyed.url}/images/{'a' * 64}", headers=bearer(WRITER), timeout=60)
    assert_error(response, 404, "no image with id")  # allowed through: the image just is not there


def test_an_exhausted_rate_limit_is_429_with_retry_after(keyed):
    answers = [get(keyed, "/stats", headers=bearer(LIMITED)) for _ in range(BURST + 1)]
    assert [a.status_code for a in answers] == [200] * BURST + [429]
    assert_error(answers[-1], 429, "rate limit exceeded")
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert get(keyed, "/stats", headers=bearer(READER)).status_code == 200  # buckets are per key


def test_a_read_only_server_refuses_every_write_endpoint(library_root, tiny_clip_dir):
    with ApiServer(_env(library_root, tiny_clip_dir), args=("--read-only",)) as server:
        target = some_id(server)
        assert get(server, "/health").json()["read_only"] is True
        assert_error(post(server, "/upload", files=[("files", ("a.jpg", jpeg_bytes(7)))]), 403, "read-only")
        assert_error(requests.delete(f"{server.url}/images/{target}", timeout=60), 403, "read-only")
        assert_error(post(server, f"/images/{target}/restore"), 403, "read-only")
        assert get(server, f"/images/{target}").status_code == 200


def test_without_a_loadable_model_text_search_is_503_and_the_rest_works(library_root, tmp_path):
    env = _env(library_root, str(tmp_path / "no-model"))
    with ApiServer(env) as server:
        health = get(server, "/health").json()
        assert health["status"] == "degraded" and health["model"]["loaded"] is False
        assert_error(get(server, "/search", params={"query": "x"}), 503, "Cannot load model")
        assert_error(post(server, "/upload", files=[("files", ("a.jpg", jpeg_bytes(8)))]), 503, "Cannot load model")
        assert get(server, "/stats").status_code == 200
        target = post(server, "/query", json={"sql": "SELECT id FROM images LIMIT 1"}).json()["rows"][0]["id"]
        assert get(server, "/search", params={"like": target}).status_code == 200  # more like this needs no model


def test_serve_refuses_a_public_address_without_keys(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("IMAGESEARCH_API_KEYS", raising=False)
    monkeypatch.delenv("IMAGESEARCH_API_KEYS_FILE", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "db")]) == 2
    err = capsys.readouterr().err
    assert "no API keys configured" in err and err.count("\n") == 1
    bad = tmp_path / "keys.txt"
    bad.write_text("short read\n")
    assert main(["serve", "--keys-file", str(bad), "--db", str(tmp_path / "db")]) == 2
    assert "line 1" in capsys.readouterr().err


# --- the Python client ---------------------------------------------------------------------------

def test_the_client_needs_only_requests_and_speaks_every_endpoint(api, library_root, tmp_path):
    import subprocess
    import sys

    from pipeline.api.client import ApiError, ImageSearchClient

    probe = "import sys, pipeline.api.client; print(sorted({'store', 'lancedb', 'torch', 'fastapi'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    client = ImageSearchClient(api.url)
    photo = library_root["root"] / "photos" / "photo_0004.jpg"
    assert client.search(terms=[{"image": photo}], k=2)["results"][0]["uri"] == str(photo)
    assert client.search_by_image(photo, k=1)["results"][0]["uri"] == str(photo)
    new = tmp_path / "fresh.jpg"
    new.write_bytes(jpeg_bytes(600))
    image_id = client.upload([new], tags=["client"])["outcomes"][0]["id"]
    assert client.image(image_id)["tags"] == ["client"] and client.original(image_id) == new.read_bytes()
    assert client.thumbnail(image_id)[:2] == b"\xff\xd8"
    assert client.delete(image_id)["deleted"] == 1 and client.restore(image_id)["restored"] == 1
    assert client.query("SELECT count(*) AS n FROM images")["rows"][0]["n"] == client.stats()["rows"]
    assert client.health()["status"] == "ok" and "imagesearch_rows" in client.metrics()
    with pytest.raises(ApiError) as raised:
        client.query("DROP TABLE images")
    assert raised.value.status == 400 and "read-only" in raised.value.message


def test_a_server_whose_model_did_not_build_the_table_answers_409(library_root, tmp_path):
    from tests.model_factory import build_random_clip

    other = str(build_random_clip(tmp_path / "other-model", size="tiny", seed=1))
    with ApiServer(_env(library_root, other)) as server:
        assert_error(get(server, "/search", params={"query": "x"}), 409, "holds vectors from model")
        assert_error(post(server, "/upload", files=[("files", ("a.jpg", jpeg_bytes(9)))]), 409, "holds vectors")
