"""The Search page's modes, provenance badges, "Load more" and shareable URLs, through AppTest over a
real library with full-text indexes and the tiny model."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import ImageLibrary
from store.text_search import refresh_text_indexes
from tests.dashboard_support import PHOTOS, build_library, copy_library

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SEARCH = "FormSubmitter:search_form-Search"


@pytest.fixture(scope="module")
def template(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("dash-modes")
    refresh_text_indexes(ImageLibrary(str(build_library(root, tiny_clip_dir))))
    return root


@pytest.fixture
def env(template, tmp_path, tiny_clip_dir, monkeypatch):
    db = copy_library(template, tmp_path)
    monkeypatch.setenv("IMAGESEARCH_DB", str(db))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    for name in ("IMAGESEARCH_TABLE", "IMAGESEARCH_READ_ONLY", "IMAGESEARCH_MEDIA"):
        monkeypatch.delenv(name, raising=False)
    return db


def open_app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({k: str(v) for k, v in params.items()})
    at.run()
    assert not at.exception, at.exception
    return at


def result_ids(at):
    return [b.key.removeprefix("search_open_") for b in at.button if b.key and b.key.startswith("search_open_")]


def markdown(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown)


def test_a_table_with_a_text_index_searches_words_and_meaning_by_default(env):
    at = open_app()
    assert at.session_state["search_mode"] == "hybrid"


def test_a_url_with_query_parameters_runs_that_search(env):
    at = open_app(q="even", mode="keyword", k=3)
    assert at.text_input(key="search_text").value == "even"
    assert at.session_state["search_mode"] == "keyword" and at.slider(key="search_k").value == 3
    assert len(result_ids(at)) == 3  # four photos are tagged "even"; k = 3
    assert ":orange-badge[:material/notes: words]" in markdown(at)


def test_searching_writes_the_query_into_the_url(env):
    at = open_app()
    at.text_input(key="search_text").input("sample")
    at.slider(key="search_k").set_value(4)
    at.button(key=SEARCH).click().run()
    assert not at.exception, at.exception
    assert at.query_params["q"] == "sample" and at.query_params["mode"] == "hybrid" and at.query_params["k"] == "4"


def test_filters_travel_in_the_url_and_cut_the_results(env):
    at = open_app(q="sample", mode="keyword", k=20, fmt="PNG")
    assert at.multiselect(key="search_formats").value == ["PNG"]
    assert len(result_ids(at)) == PHOTOS // 2  # sample_images alternates JPEG and PNG


def test_load_more_appends_the_next_page_of_the_same_list(env):
    at = open_app(q="sample", mode="keyword", k=3)
    first = result_ids(at)
    at.button(key="search_load_more").click().run()
    assert not at.exception, at.exception
    more = result_ids(at)
    assert more[:3] == first and len(more) == 6 and len(set(more)) == 6


def test_a_url_value_that_does_not_fit_is_ignored(env):
    at = open_app(q="even", mode="telepathy", k=999)
    assert at.session_state["search_mode"] == "hybrid" and at.slider(key="search_k").value == 20
    assert result_ids(at)
