"""A shared link reproduces a search: a real Streamlit server and Chromium open a URL with query
parameters, and the page shows that search's results, mode and filters without a click."""

import shutil

import pytest

from store import ImageLibrary
from store.text_search import refresh_text_indexes
from tests.dashboard_support import PHOTOS, SETTLED_JS, DashboardServer, build_library, launch_chromium, run_search

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")]
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_clip_dir):
    root = tmp_path_factory.mktemp("browser-url")
    db = build_library(root, tiny_clip_dir)
    refresh_text_indexes(ImageLibrary(str(db)))
    env = {"IMAGESEARCH_DB": str(db), "IMAGESEARCH_MODEL": tiny_clip_dir, "IMAGESEARCH_READ_ONLY": "1"}
    with DashboardServer(env) as server:
        yield server


@pytest.fixture(scope="module")
def browser(served):
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def new_page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    return page


def test_a_url_with_query_parameters_reproduces_the_search(served, browser):
    page = new_page(browser)
    page.goto(served.url + "/?q=even&mode=keyword&k=3&fmt=JPEG")
    page.get_by_text('results for "even"').wait_for()
    page.wait_for_function(SETTLED_JS, arg=2)
    # Photos 0, 2, 4, 6 are tagged "even"; sample_images alternates JPEG (even) and PNG: all four are
    # JPEG, k = 3 shows three, each labelled as found by its words.
    sync_api.expect(page.get_by_role("button", name="View")).to_have_count(3)
    sync_api.expect(page.locator(".stMarkdownBadge", has_text="words")).to_have_count(3)
    assert page.get_by_label("Describe what you are looking for").input_value() == "even"
    page.close()


def test_searching_puts_the_query_in_the_url_and_that_url_runs_it_again(served, browser):
    page = new_page(browser)
    page.goto(served.url + "/")
    page.get_by_role("heading", name="Search", exact=True).wait_for()
    run_search(page, "sample", 1)
    page.wait_for_function("() => location.search.includes('q=sample')")
    url = page.url
    assert "mode=hybrid" in url and "cutoff=0" in url
    first = [b.inner_text() for b in page.get_by_test_id("stMarkdownContainer").all()]
    again = new_page(browser)
    again.goto(url)
    again.get_by_text('results for "sample"').wait_for()
    again.wait_for_function(SETTLED_JS, arg=min(PHOTOS, 20))
    sync_api.expect(again.get_by_role("button", name="View")).to_have_count(PHOTOS)
    shown = [b.inner_text() for b in again.get_by_test_id("stMarkdownContainer").all()]
    assert [t for t in shown if "·" in t and " ms" not in t] == [t for t in first if "·" in t and " ms" not in t]
    page.close()
    again.close()
