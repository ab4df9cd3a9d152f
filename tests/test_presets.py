"""Model presets are accepted wherever a model id is; score scales differ per family."""

import json

import pytest

from pipeline.cli import main
from pipeline.encoder import ClipEncoder, resolve_model
from pipeline.presets import PRESETS, family_of, hub_id, score_scale
from tests.model_factory import build_random_siglip
from tests.sample_images import write_photos


def test_preset_names_resolve_to_hub_ids_and_anything_else_passes_through(monkeypatch):
    monkeypatch.delenv("IMAGESEARCH_MODEL", raising=False)
    assert resolve_model("clip-b32") == "openai/clip-vit-base-patch32" == resolve_model()
    assert resolve_model("siglip2-b16") == "google/siglip2-base-patch16-224"
    assert hub_id("/models/my-clip") == "/models/my-clip" and hub_id("org/model") == "org/model"
    assert ClipEncoder("clip-l14").model_id == "openai/clip-vit-large-patch14"
    from pipeline.settings import Settings

    assert Settings.load(env={"IMAGESEARCH_MODEL": "clip-l14"}).model_for(None) == "openai/clip-vit-large-patch14"


def test_every_preset_names_a_family_with_a_score_scale():
    for preset in PRESETS.values():
        assert family_of(preset.name) == family_of(preset.hub_id) == preset.family
        scale = score_scale(preset.hub_id)
        assert 0 < scale.min_score < 1 and 0 < scale.cutoff_gap < 1 and 0.5 < scale.duplicate_threshold <= 1
    assert score_scale("google/siglip2-base-patch16-224").min_score < score_scale("clip-b32").min_score


def test_a_preset_on_the_command_line_names_its_hub_id_when_weights_are_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    write_photos(tmp_path / "photos", 1)
    assert main(["index", str(tmp_path / "photos"), "--model", "siglip2-b32"]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "google/siglip2-base-patch32-256" in err


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_duplicates_default_threshold_follows_the_tables_model_family(family, tmp_path, capsys, monkeypatch,
                                                                       tiny_clip_dir):
    model = tiny_clip_dir if family == "clip" else str(build_random_siglip(tmp_path / "siglip"))
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    monkeypatch.setenv("IMAGESEARCH_MODEL", model)
    write_photos(tmp_path / "photos", 3)
    assert main(["index", str(tmp_path / "photos")]) == 0
    capsys.readouterr()
    assert main(["duplicates", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["threshold"] == score_scale(model).duplicate_threshold
    assert score_scale(model).family == family
