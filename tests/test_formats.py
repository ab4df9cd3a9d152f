"""One list of supported formats: the walk, decoding, query images and pickers agree on it."""

import io

from PIL import Image

from pipeline.formats import FORMAT_NAMES, IMAGE_EXTENSIONS, has_image_extension, stored_extension, upload_types
from pipeline.images import ALLOWED_FORMATS, DecodeLimits, decode_image


def test_every_listed_format_decodes_and_every_decoder_is_listed():
    assert set(ALLOWED_FORMATS) == set(FORMAT_NAMES)
    for name in FORMAT_NAMES:
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, format=name)
        decoded = decode_image(buffer.getvalue(), f"x.{stored_extension(name)}", DecodeLimits())
        assert decoded.ok, (name, decoded.error)
        assert decoded.format == name
        assert has_image_extension(f"photo.{stored_extension(name)}")


def test_names_that_no_decoder_reads_are_not_image_names():
    for name in ("a.heic", "a.svg", "a.psd", "a.txt", "noext"):
        assert not has_image_extension(name)
    assert set(upload_types()) == {e.lstrip(".") for e in IMAGE_EXTENSIONS}
    assert stored_extension("NOPE") == "bin"
