"""The real server in a real browser: search, open, more like this, upload, delete, restore.

Set IMAGESEARCH_SCREENSHOTS=DIR to save a screenshot of each page there (docs/screenshots does).
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


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("browser")
    db = build_library(root, tiny_clip_dir)
    env = {"IMAGESEARCH_DB": str(db), "IMAGESEARCH_MODEL": tiny_clip_dir, "IMAGESEARCH_READ_ONLY": "",
           "IMAGESEARCH_MEDIA": str(root / "media")}
    with DashboardServer(env) as server:
        yield server, db, root


@pytest.fixture(scope="module")
def page(served):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(served[0].url)
        yield page
        browser.close()


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


def test_search_open_a_result_and_more_like_this(page):
    run_search(page, "a red square", PHOTOS)
    sync_api.expect(page.get_by_role("button", name="Open")).to_have_count(PHOTOS)
    page.get_by_role("button", name="Open").first.click()
    page.get_by_role("button", name="More like this").wait_for()
    page.get_by_text("Score ").first.wait_for()
    shot(page, "search")
    page.get_by_role("button", name="More like this").click()
    page.get_by_text("results for \"a red square\", more like").wait_for()
    sync_api.expect(page.get_by_role("button", name="Open")).to_have_count(PHOTOS - 1)
    page.get_by_role("button", name="Clear").click()
    sync_api.expect(page.get_by_text("combined with any text above")).to_have_count(0)


def test_upload_a_file_and_find_it(page, served, tmp_path):
    _, db, _ = served
    picture = tmp_path / "team-photo.jpg"
    picture.write_bytes(jpeg_bytes(42, (200, 150)))
    page.goto(served[0].url + "/upload")
    page.get_by_role("heading", name="Upload", exact=True).wait_for()
    page.locator("input[type=file]").first.set_input_files(str(picture))
    page.get_by_role("button", name="Index 1 file").click()
    page.get_by_text("indexed ·").wait_for()
    shot(page, "upload")
    assert eventually(lambda: library(db).count() == PHOTOS + 1)
    assert library(db).query(where="file_name = 'team-photo.jpg'", select=["id"]).num_rows == 1


def test_delete_a_result_then_restore_it_from_the_history(page, served):
    _, db, _ = served
    page.goto(served[0].url + "/")
    page.get_by_role("heading", name="Search", exact=True).wait_for()
    before = library(db).count()
    run_search(page, "photo", min(before, 20))
    page.get_by_role("button", name="Open").first.click()
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("button", name="Yes, delete").click()
    page.get_by_text("Deleted ").first.wait_for()
    assert eventually(lambda: library(db).count() == before - 1)

    page.goto(served[0].url + "/library")
    page.get_by_role("heading", name="Library", exact=True).wait_for()
    page.get_by_test_id("stMetric").first.wait_for()
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')")
    shot(page, "library")
    page.get_by_role("tab", name="Charts").click()
    page.wait_for_timeout(1500)  # vega draws asynchronously
    shot(page, "charts")
    page.get_by_role("tab", name="History").click()
    page.get_by_role("button", name="Restore this version").click()
    page.get_by_text("Restored version").wait_for()
    assert eventually(lambda: library(db).count() == before)
