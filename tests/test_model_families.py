"""SigLIP, SigLIP2 (fixed resolution) and Chinese-CLIP: tiny random checkpoints built offline and
loaded through the real from_pretrained path, encoded, indexed and searched like CLIP."""

import json

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.encoder import ClipEncoder, ModelUnavailableError, reference_image_embedding
from pipeline.presets import family_of, score_scale
from tests.model_factory import (build_random_chinese_clip, build_random_siglip, build_random_siglip2_naflex)
from tests.sample_images import make_image, write_photos

torch = pytest.importorskip("torch")

BUILDERS = {
    "siglip": lambda d: build_random_siglip(d),
    "siglip2": lambda d: build_random_siglip(d, tokenizer="gemma"),
    "chinese_clip": build_random_chinese_clip,
}
TEXTS = ["a red circle at the top left", "two green triangles", "a dog in the rain", "紅色的圓"]


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def family_dir(request, tmp_path_factory):
    return request.param, str(BUILDERS[request.param](tmp_path_factory.mktemp(request.param)))


@pytest.fixture(scope="module")
def encoder(family_dir):
    return ClipEncoder(family_dir[1], device="cpu", dtype="fp32", batch_size=3)


def _images():
    rng = np.random.default_rng(1)
    images = [make_image(i, size) for i, size in enumerate([(64, 48), (30, 120), (32, 32), (17, 23), (640, 480)])]
    from PIL import Image

    images.append(Image.fromarray(rng.integers(0, 256, (40, 50, 4), dtype=np.uint8), mode="RGBA"))
    images.append(Image.fromarray(rng.integers(0, 256, (60, 45), dtype=np.uint8), mode="L"))
    return images


def _cosines(a, b):
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _reference_texts(encoder, texts, padding):
    """The model card's text path: the checkpoint's tokenizer, get_text_features, normalise."""
    tokenizer = encoder.processor.tokenizer
    tokens = tokenizer(texts, padding=padding, truncation=True, max_length=tokenizer.model_max_length,
                       return_tensors="pt")
    with torch.inference_mode():
        out = encoder.model.get_text_features(**tokens)
    feats = out if isinstance(out, torch.Tensor) else out.pooler_output
    return torch.nn.functional.normalize(feats, dim=-1).numpy()


def test_each_family_is_recognised_from_its_config(encoder, family_dir):
    expected = {"siglip": "siglip", "siglip2": "siglip", "chinese_clip": "chinese_clip"}[family_dir[0]]
    assert encoder.family == expected == family_of(family_dir[1])
    assert score_scale(family_dir[1]).family == expected


def test_batched_images_equal_the_reference_one_image_path(encoder):
    images = _images()
    batched = encoder.encode_images(images)
    reference = np.stack([reference_image_embedding(encoder.model, encoder.processor, im) for im in images])
    assert batched.shape == (len(images), encoder.dim)
    assert _cosines(batched, reference).min() >= 0.9999


def test_texts_follow_the_familys_padding(encoder, family_dir):
    padding = "max_length" if family_dir[0].startswith("siglip") else True
    ours = encoder.encode_texts(TEXTS)
    assert _cosines(ours, _reference_texts(encoder, TEXTS, padding)).min() >= 0.9999
    if family_dir[0] == "siglip":  # pooled from the last position: padding to the longest text differs
        short = ["a dog", "red"]  # well under the 16-token limit of the tiny tokenizer
        assert _cosines(encoder.encode_texts(short), _reference_texts(encoder, short, "longest")).max() < 0.999


def test_index_and_search_through_the_cli(family_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    photos = write_photos(tmp_path / "photos", 6)
    assert main(["index", str(tmp_path / "photos"), "--model", family_dir[1]]) == 0
    capsys.readouterr()
    assert main(["search", "--image", str(photos[2]), "--json", "--model", family_dir[1]]) == 0
    top = json.loads(capsys.readouterr().out)["results"][0]
    assert top["uri"] == str(photos[2]) and top["score"] > 0.999
    assert main(["search", "a red circle", "--json", "--k", "3", "--no-cutoff", "--model", family_dir[1]]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 3


def test_a_table_of_one_family_refuses_another(tmp_path, capsys, monkeypatch, tiny_clip_dir):
    monkeypatch.setenv("IMAGESEARCH_DB", str(tmp_path / "db"))
    siglip = str(build_random_siglip(tmp_path / "siglip"))
    write_photos(tmp_path / "photos", 2)
    assert main(["index", str(tmp_path / "photos"), "--model", siglip]) == 0
    capsys.readouterr()
    assert main(["search", "a cat", "--model", tiny_clip_dir]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and siglip in err and tiny_clip_dir in err


def test_siglip2_naflex_is_refused_in_one_line_naming_the_alternative(tmp_path):
    encoder = ClipEncoder(str(build_random_siglip2_naflex(tmp_path / "naflex")), device="cpu")
    with pytest.raises(ModelUnavailableError) as excinfo:
        encoder.encode_texts(["x"])
    message = str(excinfo.value)
    assert "\n" not in message and "NaFlex" in message and "siglip2-base-patch16-224" in message
