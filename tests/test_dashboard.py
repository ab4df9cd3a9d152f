"""The Streamlit dashboard, driven through AppTest over a real temporary library and a tiny model."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import ImageLibrary
from tests.dashboard_support import PHOTOS, build_library, copy_library, jpeg_bytes

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SEARCH = "FormSubmitter:search_form-Search"


@pytest.fixture(scope="module")
def template(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("dash-template")
    build_library(root, tiny_clip_dir)
    return root


@pytest.fixture
def env(template, tmp_path, tiny_clip_dir, monkeypatch):
    db = copy_library(template, tmp_path)
    monkeypatch.setenv("IMAGESEARCH_DB", str(db))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    monkeypatch.delenv("IMAGESEARCH_TABLE", raising=False)
    monkeypatch.delenv("IMAGESEARCH_READ_ONLY", raising=False)
    monkeypatch.delenv("IMAGESEARCH_MEDIA", raising=False)
    return db


def fresh(db) -> ImageLibrary:
    """A handle that sees every commit at once (the app's own one re-reads at most every second)."""
    return ImageLibrary(str(db), read_consistency_interval=timedelta(0))


def start() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> str:
    """What a reader sees: the elements' text with Markdown escapes (dashboard.text.md) undone."""
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in elements))


def search(at: AppTest, text: str) -> AppTest:
    at.text_input(key="search_text").input(text)
    # The tiny random model's scores spread far wider than CLIP's: the relevance cutoff would hide most.
    at.checkbox(key="search_cutoff").uncheck()
    at.button(key=SEARCH).click().run()
    assert not at.exception, at.exception
    return at


def result_ids(at: AppTest) -> list[str]:
    return [b.key.removeprefix("search_open_") for b in at.button if b.key and b.key.startswith("search_open_")]


def test_sidebar_names_the_database_table_model_and_row_count(env, tiny_clip_dir):
    at = start()
    sidebar = texts(at.sidebar.markdown) + texts(at.sidebar.caption)
    assert str(env) in sidebar and "**images**" in sidebar and f"**{PHOTOS}** images" in sidebar
    assert tiny_clip_dir in sidebar
    assert [p.title if hasattr(p, "title") else None for p in at.title] and at.title[0].value == "Search"


def test_text_search_shows_a_grid_with_scores_count_and_query_time(env):
    at = start()
    at.slider(key="search_k").set_value(5)
    search(at, "a red square")
    summary = texts(at.markdown)
    assert '**5** results for "a red square"' in summary and " ms" in summary
    assert len(result_ids(at)) == 5
    assert len(at.get("image")) >= 5  # thumbnails


def test_opening_a_result_shows_its_details_and_more_like_this_searches_by_it(env):
    at = search(start(), "photo")
    first = result_ids(at)[0]
    at.button(key=f"search_open_{first}").click().run()
    details = texts(at.caption) + texts(at.markdown)
    assert first in details and "Score **" in details
    at.button(key="viewer_like").click().run()
    assert not at.exception
    assert "more like photo_" in texts(at.markdown)
    assert first not in result_ids(at)  # the example itself is left out
    assert len(result_ids(at)) == PHOTOS - 1


def test_image_query_and_negative_text_are_combined(env):
    at = start()
    at.file_uploader(key="search_image").set_value(("query.jpg", jpeg_bytes(3, (160, 120)), "image/jpeg"))
    at.text_input(key="search_negative").input("people")
    at.button(key=SEARCH).click().run()
    assert not at.exception, at.exception
    assert 'the uploaded picture, not "people"' in texts(at.markdown)
    assert len(result_ids(at)) == PHOTOS


def test_filters_narrow_the_results_and_a_bad_filter_is_a_clear_message(env):
    at = start()
    at.multiselect(key="search_formats").set_value(["PNG"])
    at.text_input(key="search_tags").input("odd")
    search(at, "photo")
    ids = result_ids(at)
    rows = fresh(env).get_many(ids)
    assert len(ids) == PHOTOS // 2 and {r["format"] for r in rows} == {"PNG"}

    at.text_input(key="search_sql").input("widht >> 3")
    search(at, "photo")
    assert "invalid filter" in texts(at.error)
    assert not result_ids(at)


def test_the_table_view_lists_every_result(env):
    at = search(start(), "photo")
    at.button_group(key="search_view").set_value("List").run()
    assert not at.exception
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == PHOTOS


def test_deleting_a_result_asks_first_and_can_be_undone(env):
    at = search(start(), "photo")
    victim = result_ids(at)[0]
    at.button(key=f"search_open_{victim}").click().run()
    at.button(key="viewer_delete").click().run()
    assert "Delete this image" in texts(at.warning)
    at.button(key="viewer_confirm_yes").click().run()
    library = fresh(env)
    assert library.get(victim) is None and victim not in result_ids(at)
    at.button(key="search_undo_button").click().run()
    assert library.get(victim) is not None and library.count() == PHOTOS


def test_upload_indexes_many_files_with_description_and_tags_and_reports_each(env, tmp_path):
    at = start()
    at.switch_page("app_pages/upload.py").run()
    uploader = at.file_uploader(key="upload_files_0")
    uploader.set_value([("new.jpg", jpeg_bytes(100), "image/jpeg"), ("../../escape.jpg", jpeg_bytes(101), "image/jpeg"),
                        ("broken.jpg", b"nope", "image/jpeg")]).run()
    at.text_area(key="upload_description").input("team offsite")
    at.text_input(key="upload_tags").input("offsite, 2024").run()
    at.button(key="upload_go").click().run()
    assert not at.exception, at.exception
    assert "**2** indexed" in texts(at.success) and "**1** rejected" in texts(at.success)
    table = at.dataframe[0].value
    assert list(table["file"]) == ["broken.jpg", "new.jpg", "escape.jpg"]  # the rejection first
    library = fresh(env)
    assert library.count() == PHOTOS + 2
    row = library.query(where="file_name = 'escape.jpg'", select=["uri", "tags", "description"]).to_pylist()[0]
    assert row["tags"] == ["offsite", "2024"] and row["description"] == "team offsite"
    assert Path(row["uri"]).parent == env.parent / "media"
    at.switch_page("app_pages/search.py").run()
    assert f"**{PHOTOS + 2}** images" in texts(at.sidebar.markdown)


def test_library_page_shows_metrics_charts_and_a_gallery(env):
    at = start()
    at.switch_page("app_pages/library.py").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == str(PHOTOS) and metrics["Vector index"] == "none" and metrics["Dimension"] == "16"
    assert len([c for c in at.checkbox if c.key.startswith("library_pick_")]) == PHOTOS


def test_gallery_delete_selected_then_restore_from_history(env):
    at = start()
    at.switch_page("app_pages/library.py").run()
    picks = [c for c in at.checkbox if c.key.startswith("library_pick_")][:2]
    for pick in picks:
        pick.check()
    at.run()
    assert "**2** selected" in texts(at.markdown) and "**2 selected**" in texts(at.sidebar.markdown)
    at.button(key="library_bulk_delete").click().run()
    assert "2 shown" in texts(at.caption)  # thumbnails of what will go, before it goes
    at.button(key="library_confirm_yes").click().run()
    library = fresh(env)
    assert library.count() == PHOTOS - 2
    assert "Deleted 2 images" in texts(at.success)
    from store.history import describe_versions

    # The history offers versions that changed rows (index builds, compaction are folded away).
    before = [v["version"] for v in describe_versions(library) if not v["maintenance"]][-2]
    next(b for b in at.selectbox if b.key.startswith("library_restore_version")).set_value(before)
    at.button(key="library_restore").click().run()
    assert not at.exception
    assert library.count() == PHOTOS


def test_delete_by_filter_previews_the_count_and_needs_confirmation(env):
    at = start()
    at.switch_page("app_pages/library.py").run()
    at.multiselect(key="library_formats").set_value(["JPEG"]).run()
    assert f"matches **{PHOTOS // 2}** images" in texts(at.markdown)
    assert at.button(key="library_filter_delete").disabled
    at.checkbox(key="library_filter_sure").check().run()
    at.button(key="library_filter_delete").click().run()
    assert fresh(env).count() == PHOTOS // 2
    at.text_input(key="library_sql").input("no_such_column = 1").run()
    assert "invalid filter" in texts(at.error) and not at.exception


def test_clearing_the_library_needs_the_table_name_typed(env):
    at = start()
    at.switch_page("app_pages/library.py").run()
    assert at.button(key="library_clear").disabled
    at.text_input(key="library_clear_confirm").input("images").run()
    at.button(key="library_clear").click().run()
    assert fresh(env).count() == 0
    at.button(key="library_undo_button").click().run()
    assert fresh(env).count() == PHOTOS


def test_read_only_mode_hides_every_destructive_action(env, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_READ_ONLY", "1")
    at = search(start(), "photo")
    assert "Read-only" in texts(at.sidebar.info)
    at.button(key=f"search_open_{result_ids(at)[0]}").click().run()
    keys = {b.key for b in at.button}
    assert "viewer_like" in keys and "viewer_delete" not in keys
    with pytest.raises(ValueError):
        at.switch_page("app_pages/upload.py").run()  # not in the navigation at all
    at.switch_page("app_pages/library.py").run()
    keys = {w.key for w in [*at.button, *at.checkbox, *at.text_input, *at.selectbox]}
    assert not any(k and k.startswith(("library_pick_", "library_delete", "library_clear", "library_restore",
                                       "library_filter")) for k in keys), keys


def test_a_missing_table_says_how_to_index(env, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "empty" / "db"))
    at = start()
    assert "python -m pipeline index PATH" in texts(at.info)
    at.switch_page("app_pages/library.py").run()
    assert "python -m pipeline index PATH" in texts(at.info) and not at.exception


def test_without_the_model_a_banner_says_how_to_fix_it_and_the_rest_still_works(env, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", str(tmp_path / "no-such-model"))
    at = start()
    banner = texts(at.warning)
    assert "Model not loaded" in banner and "IMAGESEARCH_MODEL" in banner
    search(at, "photo")
    assert "need the model" in texts(at.error)
    at.switch_page("app_pages/library.py").run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Images"] == str(PHOTOS)
    at.switch_page("app_pages/upload.py").run()
    assert "needs the model" in texts(at.error)


def test_a_picture_the_generate_page_hands_over_is_searched_on_the_search_page(env):
    """'Search similar' on the Generate page stores the picture under search_image_bytes and switches
    pages: the Search page must search with it (it used to be stored under a key nothing read)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["search_image_bytes"] = jpeg_bytes(3)
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["search_label"] == "the generated picture"
    assert at.session_state["search_results"]  # ranked by the handed-over picture
    assert "search_image_bytes" not in at.session_state  # used once, not on every later search
