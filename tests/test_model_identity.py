"""A table knows its model by identity (name, architecture, fingerprint of config and weights), not
by the literal path string: the same model under another path opens it, only a different model is refused."""

import json
import shutil

import pytest

from pipeline.cli import main
from pipeline.encoder import ClipEncoder
from store import ImageLibrary
from store.errors import ModelMismatchError
from tests.model_factory import build_random_clip
from tests.sample_images import write_photos


@pytest.fixture
def place(tmp_path, monkeypatch, capsys):
    """A model at models/clip, indexed from work/ as `../models/clip`, and a photo folder."""
    build_random_clip(tmp_path / "models" / "clip", seed=0)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    monkeypatch.delenv("IMAGESEARCH_MODEL", raising=False)
    write_photos(tmp_path / "photos", 3)
    assert main(["index", str(tmp_path / "photos"), "--model", "../models/clip"]) == 0
    capsys.readouterr()
    return tmp_path


def _search(capsys, model):
    code = main(["search", "a cat", "--json", "--k", "2", "--no-cutoff", "--model", str(model)])
    out, err = capsys.readouterr()
    return code, out, err.strip()


@pytest.mark.parametrize("spelling", ["absolute", "trailing slash", "copied folder"])
def test_the_same_model_under_another_path_opens_the_table(place, capsys, spelling):
    model = place / "models" / "clip"
    if spelling == "trailing slash":
        model = f"{model}/"
    elif spelling == "copied folder":
        model = shutil.copytree(model, place / "elsewhere" / "clip-copy")
    code, out, err = _search(capsys, model)
    assert code == 0, err
    assert len(json.loads(out)["results"]) == 2


def test_a_different_model_is_refused_in_one_line(place, capsys):
    other = build_random_clip(place / "models" / "other", seed=1)  # same config, other weights
    code, _, err = _search(capsys, other)
    assert code != 0 and "\n" not in err and "../models/clip" in err and str(other) in err


def test_new_weights_under_the_old_path_are_refused(place, capsys):
    shutil.rmtree(place / "models" / "clip")
    build_random_clip(place / "models" / "clip", seed=1)
    code, _, err = _search(capsys, "../models/clip")
    assert code != 0 and "different weights" in err


def test_tables_without_an_identity_still_open_with_their_model_id(tmp_path, tiny_clip_dir):
    library = ImageLibrary(str(tmp_path / "db"))
    encoder = ClipEncoder(tiny_clip_dir, device="cpu")
    library.ensure(encoder.model_id, encoder.dim)  # as tables were made before identities
    library.check_model(encoder.model_id, encoder.dim, encoder.identity)
    other = ClipEncoder(str(build_random_clip(tmp_path / "other", seed=1)), device="cpu")
    with pytest.raises(ModelMismatchError, match="holds vectors from model"):
        library.check_model(other.model_id, other.dim, other.identity)


def test_the_identity_ignores_where_the_model_lives_and_sees_its_weights(tmp_path, tiny_clip_dir):
    copy = shutil.copytree(tiny_clip_dir, tmp_path / "copy")
    same = [ClipEncoder(str(p), device="cpu").identity for p in (tiny_clip_dir, copy, f"{copy}/")]
    assert all(i["fingerprint"] == same[0]["fingerprint"] and i["fingerprint"] for i in same)
    assert same[0]["architecture"] == "CLIPModel" and same[0]["dim"] == 16
    other = ClipEncoder(str(build_random_clip(tmp_path / "other", seed=1)), device="cpu").identity
    assert other["fingerprint"] != same[0]["fingerprint"]
