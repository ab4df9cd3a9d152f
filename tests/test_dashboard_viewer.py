"""The dashboard's defects a new user hit, and the basics they expected: viewer, editing, selection,
folders, duplicates, history in words, escaped user text. AppTest over a real library and tiny model."""

import re

import pytest

from dashboard import resources
from store.edits import FAVOURITE
from tests.dashboard_support import PHOTOS
from tests.test_dashboard import SEARCH, env, fresh, result_ids, search, start, template, texts  # noqa: F401


def dialog_keys(at) -> set[str]:
    """Keys of the widgets drawn inside a dialog (the viewer, the delete preview)."""
    found: set[str] = set()

    def walk(node, inside):
        inside = inside or getattr(node, "type", None) == "dialog"
        if inside and getattr(node, "key", None):
            found.add(node.key)
        for child in getattr(node, "children", {}).values() if isinstance(getattr(node, "children", None), dict) else []:
            walk(child, inside)

    walk(at._tree, False)
    return found


def library_page(at):
    at.switch_page("app_pages/library.py").run()
    assert not at.exception, at.exception
    return at


# --- defect 1: bad SQL -----------------------------------------------------------------------

@pytest.mark.parametrize("sql", ["description LIKE '%beach", "1=1; DROP TABLE images"])
def test_an_unterminated_quote_or_a_semicolon_is_the_usual_one_line_filter_message(env, sql):
    at = start()
    at.text_input(key="search_sql").input(sql)
    search(at, "photo")
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("invalid filter") and "\n" not in at.error[0].value
    assert not result_ids(at)

    library_page(at)
    at.text_input(key="library_sql").input(sql).run()
    assert not at.exception
    assert any(e.value.startswith("invalid filter") for e in at.error)
    assert at.button(key="library_clear") is not None  # the sections below are still drawn
    assert fresh(env).count() == PHOTOS


# --- defect 2: the viewer opens where the person is looking ----------------------------------

def test_opening_a_result_opens_the_viewer_dialog_and_arrow_buttons_step_through_results(env):
    at = search(start(), "photo")
    ids = result_ids(at)
    at.button(key=f"search_open_{ids[5]}").click().run()
    keys = dialog_keys(at)
    assert {"viewer_prev", "viewer_next", "viewer_like", "viewer_delete", "viewer_close"} <= keys
    assert at.button(key="viewer_next").proto.shortcut and at.button(key="viewer_prev").proto.shortcut
    assert ids[5] in texts(at.caption) and "6 of 8" in texts(at.markdown)
    at.button(key="viewer_next").click().run()
    assert ids[6] in texts(at.caption) and "7 of 8" in texts(at.markdown)
    at.button(key="viewer_close").click().run()
    assert "viewer_next" not in {b.key for b in at.button}
    assert len(result_ids(at)) == PHOTOS  # the grid is still there


# --- defect 3: a query image that is not an image ---------------------------------------------

def test_a_query_file_that_is_not_an_image_gives_a_one_line_reason_and_clears_old_results(env):
    at = search(start(), "photo")
    assert len(result_ids(at)) == PHOTOS
    at.file_uploader(key="search_image").set_value(("notes.png", b"this is text, not a picture", "image/png"))
    at.button(key=SEARCH).click().run()
    assert not at.exception
    message = texts(at.error)
    assert "notes.png" in message and "BytesIO" not in message and "\n" not in message
    assert not result_ids(at) and "results for" not in texts(at.markdown)


# --- defect 5: read-only ---------------------------------------------------------------------

def test_read_only_hides_editing_selection_and_keep_buttons(env, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_READ_ONLY", "1")
    at = search(start(), "photo")
    at.button(key=f"search_open_{result_ids(at)[0]}").click().run()
    keys = dialog_keys(at)
    assert "viewer_like" in keys and not keys & {"viewer_delete", "viewer_favourite", "viewer_save"}
    library_page(at)
    keys = {w.key for w in [*at.button, *at.checkbox, *at.text_input]}
    assert not any(k and k.startswith(("library_select", "library_bulk", "library_pick_")) for k in keys)
    at.switch_page("app_pages/duplicates.py").run()
    at.slider(key="duplicates_threshold").set_value(0.8)
    at.button(key="duplicates_find").click().run()
    assert not any(b.key and b.key.startswith("duplicates_keep_") for b in at.button)


def test_a_write_the_library_refuses_shows_its_one_line_reason(env):
    at = search(start(), "photo")
    victim = result_ids(at)[0]
    resources.get_library().read_only = True  # the shared handle refuses writes, whatever the page shows
    try:
        at.button(key=f"search_open_{victim}").click().run()
        at.button(key="viewer_delete").click().run()
        at.button(key="viewer_confirm_yes").click().run()
        assert not at.exception
        assert "read-only" in texts(at.error) and "Traceback" not in texts(at.error)
    finally:
        resources.get_library().read_only = False
    assert fresh(env).get(victim) is not None


# --- defect 6: history ----------------------------------------------------------------------

def test_history_says_what_each_version_did_and_a_restore_warns_how_many_images_it_removes(env):
    from store.history import describe_versions

    library = fresh(env)
    old = [v["version"] for v in describe_versions(library) if not v["maintenance"]][-1]  # offered for restore
    extra = library.get_many(library.query(select=["id"], limit=2)["id"].to_pylist(), with_thumbnail=True,
                             with_vector=True)
    library.delete(ids=[r["id"] for r in extra])
    library.add([{**r, "id": "f" * 63 + str(i)} for i, r in enumerate(extra)])
    library.table.optimize()  # maintenance versions
    library.add([{**r, "id": "e" * 63 + str(i)} for i, r in enumerate(extra)])
    at = library_page(start())
    table = next(d.value for d in at.dataframe if "what" in d.value.columns)
    assert "deleted 2 images" in list(table["what"]) and "added 2 images" in list(table["what"])
    assert "compacted" not in list(table["what"]) and "maintenance version(s) hidden" in texts(at.caption)
    next(b for b in at.selectbox if b.key.startswith("library_restore_version")).set_value(old).run()
    assert "removes **4** images" in " ".join(w.value for w in at.warning)


# --- defect 7: without a model --------------------------------------------------------------

def test_without_a_model_more_like_this_from_the_library_viewer_searches(env, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", str(tmp_path / "no-such-model"))
    at = library_page(start())
    first = next(b.key for b in at.button if b.key and b.key.startswith("library_open_"))
    at.button(key=first).click().run()
    at.button(key="viewer_like").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Search" and len(result_ids(at)) == PHOTOS - 1


def test_the_sidebar_pairs_the_dimension_with_the_tables_model_not_the_requested_one(env, tiny_clip_dir, tmp_path,
                                                                                        monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MODEL", str(tmp_path / "other-model"))
    at = start()
    captions = texts(at.sidebar.caption)
    assert f"{tiny_clip_dir} · dim 16" in captions
    assert "Requested model" in captions and "other-model · dim" not in captions


# --- defect 9, dashboard parts ----------------------------------------------------------------

def test_the_uploader_states_the_real_file_size_limit(env, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_MAX_FILE_MB", "7")
    at = start()
    at.switch_page("app_pages/upload.py").run()
    assert at.file_uploader(key="upload_files_0").proto.max_upload_size_mb == 7


def test_rejected_uploads_come_first_with_their_whole_reason(env):
    at = start()
    at.switch_page("app_pages/upload.py").run()
    at.file_uploader(key="upload_files_0").set_value([("fine.jpg", fresh(env).get_many(
        fresh(env).query(select=["id"], limit=1)["id"].to_pylist(), with_thumbnail=True)[0]["thumbnail"],
        "image/jpeg"), ("broken.jpg", b"nope", "image/jpeg")]).run()
    at.button(key="upload_go").click().run()
    assert not at.exception, at.exception
    assert "**broken.jpg** was not added: not an image (looks like text)" == texts(at.error[:1])
    assert list(at.dataframe[0].value["file"])[0] == "broken.jpg"
    assert not re.search("[\u2600-\u27bf\U0001f300-\U0001faff]", "".join(map(str, at.dataframe[0].value["result"])))


def test_histogram_labels_read_as_pixels_and_a_one_day_library_is_a_sentence_not_a_dot(env):
    from dashboard.widgets import human_pixels

    assert [human_pixels(v) for v in (0.00035, 0.0192, 0.3, 2.1, 24.0)] == [
        "350 px", "19.2k px", "300k px", "2.1 MP", "24 MP"]
    at = library_page(start())
    assert "were indexed on" in texts(at.info)


def test_tag_filters_ignore_case(env):
    at = start()
    at.text_input(key="search_tags").input("ODD")
    search(at, "photo")
    assert len(result_ids(at)) == PHOTOS // 2


# --- editing, favourite, selection, folders ---------------------------------------------------

def test_editing_description_and_tags_in_the_viewer_writes_a_new_version(env):
    at = search(start(), "photo")
    victim = result_ids(at)[0]
    before = fresh(env).table.version
    at.button(key=f"search_open_{victim}").click().run()
    at.text_area(key=f"viewer_desc_{victim}").input("sunset over the bay")
    at.text_input(key=f"viewer_tags_{victim}").input("Holiday, bay")
    at.button(key="viewer_save").click().run()
    assert not at.exception, at.exception
    row = fresh(env).get(victim)
    assert row["description"] == "sunset over the bay" and row["tags"] == ["Holiday", "bay"]
    assert fresh(env).table.version == before + 1
    at.button(key="viewer_favourite").click().run()
    assert FAVOURITE in fresh(env).get(victim)["tags"]


def test_select_all_matching_then_bulk_tag_and_clear(env):
    at = library_page(start())
    at.button(key="library_select_all").click().run()
    assert f"**{PHOTOS}** selected" in texts(at.markdown)
    at.text_input(key="library_bulk_tag").input("Trip").run()
    at.button(key="library_bulk_add").click().run()
    assert not at.exception, at.exception
    assert fresh(env).count("array_has(tags, 'Trip')") == PHOTOS
    at.button(key="library_select_clear").click().run()
    assert "**0** selected" in texts(at.markdown)
    assert not any(c.value for c in at.checkbox if c.key.startswith("library_pick_"))


def test_the_gallery_filters_by_source_folder(env):
    library = fresh(env)
    rows = library.get_many(library.query(select=["id"], limit=3)["id"].to_pylist(), with_thumbnail=True,
                            with_vector=True)
    library.add([{**r, "id": "a" * 63 + str(i), "uri": f"/elsewhere/trip/{r['file_name']}"} for i, r in enumerate(rows)])
    at = library_page(start())
    at.multiselect(key="gallery_folder").set_value(["/elsewhere/trip"]).run()
    picks = [c for c in at.checkbox if c.key.startswith("library_pick_")]
    assert len(picks) == 3 and all(c.key.removeprefix("library_pick_").startswith("a" * 63) for c in picks)


def test_the_duplicates_page_groups_copies_and_keeps_the_chosen_one(env):
    library = fresh(env)
    original = library.get_many(library.query(select=["id"], limit=1)["id"].to_pylist(), with_thumbnail=True,
                                with_vector=True)[0]
    copy_id = "c" * 64
    library.add([{**original, "id": copy_id, "uri": "/elsewhere/copy.jpg", "file_name": "copy.jpg"}])
    at = start()
    at.switch_page("app_pages/duplicates.py").run()
    at.slider(key="duplicates_threshold").set_value(1.0)
    at.button(key="duplicates_find").click().run()
    assert not at.exception, at.exception
    keep = {b.key for b in at.button if b.key and b.key.startswith("duplicates_keep_")}
    assert {f"duplicates_keep_{original['id']}", f"duplicates_keep_{copy_id}"} <= keep
    at.button(key=f"duplicates_keep_{original['id']}").click().run()
    assert fresh(env).get(copy_id) is None and fresh(env).get(original["id"]) is not None
    assert fresh(env).count() == PHOTOS


# --- issue 17 item 4: user text is text -------------------------------------------------------

def test_markdown_in_descriptions_tags_and_names_is_shown_as_text(env):
    library = fresh(env)
    victim = library.query(select=["id"], limit=1)["id"].to_pylist()[0]
    library.update([victim], description="![pixel](http://127.0.0.1:9/pixel.png?viewer=1)",
                   tags=["[link](http://127.0.0.1:9/x)", ":red[loud]"])
    at = library_page(start())
    at.button(key=f"library_open_{victim}").click().run()
    assert not at.exception, at.exception
    bodies = [str(e.value) for e in [*at.markdown, *at.caption, *at.checkbox]]
    assert not any(re.search(r"(?<!\\)!\[|(?<!\\)\]\(", b) for b in bodies), bodies
    assert "![pixel](http://127.0.0.1:9/pixel.png?viewer=1)" in texts(at.text)
    chips = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "[link](http://127.0.0.1:9/x)" in chips and "<a " not in chips
