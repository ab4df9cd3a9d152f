"""The Generate page, driven through Streamlit's AppTest over a temporary library and tiny models."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "app_pages" / "generate.py")
PROMPT = "a lighthouse at dusk"


@pytest.fixture
def page_env(tmp_path, tiny_clip_dir, tiny_sd_dir, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "data" / "lancedb"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    monkeypatch.setenv("IMAGESEARCH_SD_MODEL", tiny_sd_dir)
    monkeypatch.delenv("IMAGESEARCH_MEDIA", raising=False)
    monkeypatch.delenv("IMAGESEARCH_READ_ONLY", raising=False)
    return tmp_path


def open_page() -> AppTest:
    # cache_resource/cache_data are process-wide: each test starts from its own environment
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def generate(at: AppTest, n: int = 1, seed: int = 5) -> AppTest:
    at.text_area(key="generate_prompt").set_value(PROMPT)
    at.number_input(key="generate_steps").set_value(2)
    at.number_input(key="generate_n").set_value(n)
    at.number_input(key="generate_seed").set_value(seed)
    at.button[0].click()  # the form's Generate button
    at.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str, index: int = 0):
    return [b for b in at.button if b.label == label][index]


def test_generated_images_are_shown_with_seeds_and_downloads(page_env):
    at = generate(open_page(), n=2)
    assert [image.captions for image in at.get("image")] == [["seed 5"], ["seed 6"]]
    assert len(at.get("download_button")) == 2
    assert not at.error


def test_add_to_library_then_search_similar_finds_the_kept_image(page_env):
    at = generate(open_page())
    button(at, "Add to library").click()
    at.run()
    assert not at.exception and not at.error
    assert any("In the library as" in c.value for c in at.caption)
    assert len(list((page_env / "data" / "media").glob("*.png"))) == 1
    button(at, "Search similar").click()
    at.run()
    assert not at.exception and not at.error
    assert any("Library images like seed 5" in h.value for h in at.subheader)
    scores = [float(image.captions[0].split(" ")[0]) for image in at.get("image")[1:]]
    assert scores and scores[0] > 0.999  # the kept image is its own nearest neighbour


def test_invalid_parameters_show_a_message_and_generate_nothing(page_env):
    at = open_page()
    at.number_input(key="generate_width").set_value(100)
    at.text_area(key="generate_prompt").set_value(PROMPT)
    at.button[0].click()
    at.run()
    assert [e.value for e in at.error] == ["width must be a multiple of 8 from 64 to 2048, got 100"]
    assert not at.get("download_button")


def test_read_only_mode_hides_add_to_library(page_env, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_READ_ONLY", "1")
    at = generate(open_page())
    labels = [b.label for b in at.button]
    assert "Add to library" not in labels and "Search similar" in labels


def test_missing_weights_show_a_banner_with_the_fix(page_env, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_SD_MODEL", str(page_env / "no-such-model"))
    at = open_page()
    assert len(at.error) == 1 and "IMAGESEARCH_SD_MODEL" in at.error[0].value
    assert not at.text_area  # no form to fill in
