"""Composed queries fold weighted terms into one normalised vector."""

import numpy as np
import pytest

from pipeline.compose import QueryTerm, compose_query
from pipeline.encoder import ClipEncoder
from store import ImageLibrary
from tests.sample_images import make_image


@pytest.fixture(scope="module")
def encoder(tiny_clip_dir):
    return ClipEncoder(tiny_clip_dir, device="cpu")


def test_a_single_text_term_is_the_text_embedding(encoder):
    vector = compose_query(encoder, [QueryTerm("text", "a beach")])
    np.testing.assert_allclose(vector, encoder.encode_texts(["a beach"])[0], atol=1e-6)


def test_weights_and_negative_terms_combine_linearly(encoder):
    beach, people = encoder.encode_texts(["a beach", "people"])
    image = make_image(1)
    picture = encoder.encode_images([image])[0]
    vector = compose_query(encoder, [QueryTerm("text", "a beach"), QueryTerm("text", "people", -0.5),
                                     QueryTerm("image", image, 0.5)])
    expected = beach - 0.5 * people + 0.5 * picture
    np.testing.assert_allclose(vector, expected / np.linalg.norm(expected), atol=1e-5)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_more_like_this_uses_the_stored_vector(encoder, tmp_path):
    library = ImageLibrary(str(tmp_path / "db"))
    library.ensure(encoder.model_id, encoder.dim)
    stored = encoder.encode_images([make_image(2)])[0]
    library.add([{"id": "a" * 64, "uri": "x.jpg", "vector": stored}])
    vector = compose_query(encoder, [QueryTerm("id", "a" * 64)], library)
    np.testing.assert_allclose(vector, stored, atol=1e-6)
    with pytest.raises(ValueError, match="no image with id"):
        compose_query(encoder, [QueryTerm("id", "b" * 64)], library)


def test_invalid_queries_are_refused(encoder):
    with pytest.raises(ValueError, match="at least one term"):
        compose_query(encoder, [])
    with pytest.raises(ValueError, match="positive term"):
        compose_query(encoder, [QueryTerm("text", "people", -1.0)])
    with pytest.raises(ValueError, match="cancel"):
        compose_query(encoder, [QueryTerm("text", "x", 1.0), QueryTerm("text", "x", -1.0), QueryTerm("text", "y", 1e-9)])
    with pytest.raises(ValueError, match="non-zero"):
        QueryTerm("text", "x", 0.0)
