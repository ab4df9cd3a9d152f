"""The dashboard over a photo library: date-taken/camera/place filters, photo details, timeline, map."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.photo_files import write_photo

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
SEARCH = "FormSubmitter:search_form-Search"


@pytest.fixture
def env(tmp_path, tiny_clip_dir, monkeypatch):
    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import index
    from store import ImageLibrary

    folder = tmp_path / "photos"
    paths = [
        write_photo(folder / "lisbon.jpg", seed=1, taken="2019:07:14 10:00:00", make="Apple", model="iPhone 12",
                    lat=38.72, lon=-9.14),
        write_photo(folder / "paris.jpg", seed=2, taken="2020:08:02 18:30:00", make="Canon", model="Canon EOS R5",
                    lat=48.8566, lon=2.3522),
        write_photo(folder / "plain.jpg", seed=3),
    ]
    db = tmp_path / "db"
    report = index(ImageLibrary(str(db)), ClipEncoder(tiny_clip_dir, device="cpu"), [str(p) for p in paths])
    assert report.indexed == 3
    monkeypatch.setenv("IMAGESEARCH_DB", str(db))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    for name in ("IMAGESEARCH_TABLE", "IMAGESEARCH_READ_ONLY", "IMAGESEARCH_MEDIA"):
        monkeypatch.delenv(name, raising=False)
    return db


def texts(elements) -> str:
    """What a reader sees: Markdown escapes (dashboard.text.md) undone."""
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in elements))


def result_names(at: AppTest) -> list[str]:
    return [row["file_name"] for row in at.session_state["search_results"] or []]


def test_place_and_camera_filters_narrow_search_and_details_show_when_and_where(env):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="search_text").input("a street")
    at.text_input(key="search_place").input("lisbon")
    at.checkbox(key="search_cutoff").uncheck()  # a tiny random model's scores: the cutoff would hide most
    at.button(key=SEARCH).click().run()
    assert not at.exception, at.exception
    assert result_names(at) == ["lisbon.jpg"]
    opened = next(b for b in at.button if b.key and b.key.startswith("search_open_"))
    opened.click().run()
    details = texts(at.caption)
    assert "Taken 2019-07-14 10:00 (camera clock)" in details
    assert "Apple iPhone 12" in details and "Lisbon, Lisbon, Portugal · 38.72000, -9.14000" in details

    at.text_input(key="search_place").input("")
    at.text_input(key="search_camera").input("canon")
    at.button(key=SEARCH).click().run()
    assert result_names(at) == ["paris.jpg"]
    at.text_input(key="search_camera").input("")
    at.selectbox(key="search_located").set_value("without a location")
    at.button(key=SEARCH).click().run()
    assert result_names(at) == ["plain.jpg"]


def test_the_library_page_has_a_timeline_by_date_taken_and_a_map_on_request(env):
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("app_pages/library.py").run()
    assert not at.exception, at.exception
    page = texts(at.markdown) + texts(at.caption)
    assert "**Photos by month taken**" in page and "**Geotagged photos** (2)" in page
    assert "Lisbon 1" in page and "Paris 1" in page
    assert not at.get("deck_gl_json_chart")  # no map tiles requested unless asked
    at.toggle(key="library_show_map").set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.get("deck_gl_json_chart")) == 1
