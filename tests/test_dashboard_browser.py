"""The real server in a real browser: search, the viewer (open, arrow key, close), editing a tag,
select-all + delete with its preview, the duplicates page, upload, restore, and the narrow layout.

Set IMAGESEARCH_SCREENSHOTS=DIR to save screenshots there (docs/screenshots does): 1400x900 and
390x844 (phone).
"""

import os
import shutil
import time
from datetime import timedelta

import pytest

from store import ImageLibrary
from tests.dashboard_support import PHOTOS, DashboardServer, build_library, jpeg_bytes, launch_chromium, run_search

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
PIXEL = "http://127.0.0.1:9/pixel.png?viewer=1"  # nothing listens there; a fetch would show in the page's requests


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("browser")
    db = build_library(root, tiny_clip_dir)
    lib = library(db)
    first = lib.query(select=["id"], limit=1)["id"].to_pylist()[0]
    lib.update([first], description=f"![pixel]({PIXEL})", add_tags=["[link](http://127.0.0.1:9/x)"])
    original = lib.get_many([first], with_thumbnail=True, with_vector=True)[0]
    lib.add([{**original, "id": "c" * 64, "uri": str(root / "copy.jpg"), "file_name": "copy.jpg",
              "description": "", "tags": []}])  # a duplicate for the duplicates page
    env = {"IMAGESEARCH_DB": str(db), "IMAGESEARCH_MODEL": tiny_clip_dir, "IMAGESEARCH_READ_ONLY": "",
           "IMAGESEARCH_MEDIA": str(root / "media")}
    with DashboardServer(env) as server:
        yield server, db, root


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(served, browser):
    page = browser.new_page(viewport=DESKTOP)
    page.set_default_timeout(60_000)
    page.requested = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.goto(served[0].url)
    yield page
    page.close()


def shot(page, name):
    folder = os.environ.get("IMAGESEARCH_SCREENSHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=False)


def eventually(condition, timeout=10.0):
    """The browser shows a message as soon as the server sends it; give the commit a moment too."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def library(db):
    return ImageLibrary(str(db), read_consistency_interval=timedelta(0))


def settled(page):
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")


def close_viewer(page):
    page.locator('[class*="st-key-viewer_close"] button').click()
    sync_api.expect(page.get_by_role("dialog")).to_have_count(0)


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 50) <= size["height"]


def test_the_result_grid_is_above_the_fold_at_1400x900(page):
    total = PHOTOS + 1
    run_search(page, "a red square", total)
    views = page.get_by_role("button", name="View")
    sync_api.expect(views).to_have_count(total)
    first_tile = page.locator('[class*="st-key-search_grid"] [data-testid="stImage"]').first
    assert in_viewport(page, first_tile)
    shot(page, "search")


def test_the_viewer_opens_in_view_steps_with_the_arrow_key_and_closes(page):
    page.get_by_role("button", name="View").last.scroll_into_view_if_needed()
    page.get_by_role("button", name="View").last.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert in_viewport(page, dialog.get_by_role("button", name="More like this"))
    counter = dialog.get_by_text(f"{PHOTOS + 1} of {PHOTOS + 1}")
    counter.wait_for()
    page.mouse.move(5, 5)
    page.keyboard.press("ArrowRight")
    dialog.get_by_text(f"1 of {PHOTOS + 1}").wait_for()
    shot(page, "viewer")
    page.keyboard.press("Escape")
    sync_api.expect(page.get_by_role("dialog")).to_have_count(0)


def test_user_markdown_is_shown_as_text_and_fetches_nothing(page, served):
    _, db, _ = served
    victim = library(db).query(where="description LIKE '%pixel%'", select=["id"])["id"].to_pylist()[0]
    page.locator(f'[class*="st-key-search_open_{victim}"] button').click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_test_id("stText").get_by_text(f"![pixel]({PIXEL})").wait_for()
    dialog.locator(".tag-chip").get_by_text("[link](http://127.0.0.1:9/x)").wait_for()
    assert dialog.locator('a[href*="127.0.0.1:9"]').count() == 0
    assert dialog.locator('img[src*="pixel.png"]').count() == 0
    assert not any("pixel.png" in url for url in page.requested)
    close_viewer(page)
    sync_api.expect(page.get_by_role("dialog")).to_have_count(0)


def test_editing_a_tag_in_the_viewer_is_saved(page, served):
    _, db, _ = served
    page.get_by_role("button", name="View").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Edit description and tags").click()
    tags = dialog.get_by_label("Tags (comma-separated)")
    tags.fill("browser-tag")
    dialog.get_by_role("button", name="Save").click()  # a form: the typed value travels with the click
    assert eventually(lambda: library(db).count("array_has(tags, 'browser-tag')") == 1)
    dialog.get_by_text("Saved.").wait_for()
    close_viewer(page)


def test_the_phone_layout_keeps_the_search_box_on_top_and_two_columns(served, browser):
    phone = browser.new_page(viewport=PHONE)
    phone.set_default_timeout(60_000)
    phone.goto(served[0].url)
    run_search(phone, "a red square", PHOTOS + 1)
    tiles = phone.locator('[class*="st-key-search_grid"] [data-testid="stImage"]')
    first, second = tiles.nth(0).bounding_box(), tiles.nth(1).bounding_box()
    assert abs(first["y"] - second["y"]) < 2 and second["x"] > first["x"]  # side by side
    assert in_viewport(phone, tiles.nth(0))
    box = phone.get_by_label("Describe what you are looking for").bounding_box()
    assert box["y"] < first["y"]
    shot(phone, "search-phone")
    phone.close()


def test_the_duplicates_page_keeps_one_and_deletes_the_others(page, served):
    _, db, _ = served
    page.goto(served[0].url + "/duplicates")
    page.get_by_role("heading", name="Duplicates", exact=True).wait_for()
    before = library(db).count()
    page.get_by_role("button", name="Find duplicates").click()
    page.get_by_text("Group 1").first.wait_for()
    settled(page)
    shot(page, "duplicates")
    group = page.locator('[class*="st-key-duplicates_group_"]').filter(has=page.locator('[class*="st-key-duplicates_keep_cccc"]'))
    group.locator('[class*="st-key-duplicates_keep_"]:not([class*="st-key-duplicates_keep_cccc"]) button').first.click()
    page.get_by_text("Kept one, deleted").wait_for()
    assert eventually(lambda: library(db).get("c" * 64) is None and library(db).count() < before)


def test_upload_a_file_and_find_it(page, served, tmp_path):
    _, db, _ = served
    picture = tmp_path / "team-photo.jpg"
    picture.write_bytes(jpeg_bytes(42, (200, 150)))
    before = library(db).count()
    page.goto(served[0].url + "/upload")
    page.get_by_role("heading", name="Upload", exact=True).wait_for()
    page.locator("input[type=file]").first.set_input_files(str(picture))
    page.get_by_role("button", name="Index 1 file").click()
    page.get_by_text("indexed ·").wait_for()
    shot(page, "upload")
    assert eventually(lambda: library(db).count() == before + 1)
    assert library(db).query(where="file_name = 'team-photo.jpg'", select=["id"]).num_rows == 1


def test_select_all_then_delete_shows_a_preview_and_history_restores(page, served):
    _, db, _ = served
    before = library(db).count()
    page.goto(served[0].url + "/library")
    page.get_by_role("heading", name="Library", exact=True).wait_for()
    page.get_by_test_id("stMetric").first.wait_for()
    settled(page)
    shot(page, "library")
    page.get_by_role("tab", name="Charts").click()
    page.wait_for_timeout(1500)  # vega draws asynchronously
    shot(page, "charts")
    page.get_by_role("tab", name="Gallery").click()
    page.get_by_role("button", name=f"Select all {before} matching").click()
    page.get_by_text(f"{before} selected").first.wait_for()
    page.get_by_role("button", name=f"Delete {before}…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"{min(before, 12)} shown").wait_for()
    assert dialog.locator('[data-testid="stImage"] img, [data-testid="stImageContainer"] img').count() >= min(before, 12)
    shot(page, "delete-preview")
    dialog.get_by_role("button", name=f"Delete {before} images").click()
    page.get_by_text(f"Deleted {before} images").wait_for()
    assert eventually(lambda: library(db).count() == 0)

    page.get_by_role("tab", name="History").click()
    page.get_by_text(f"brings back {before} image(s)").wait_for()  # the version just before the delete
    page.get_by_role("button", name="Restore this version").click()
    page.get_by_text("Restored version").wait_for()
    assert eventually(lambda: library(db).count() == before)
