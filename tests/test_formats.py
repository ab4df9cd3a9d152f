"""One list of supported formats: the walk, decoding, query images and pickers agree on it."""

import io

from PIL import Image

from pipeline.formats import (
    FORMAT_NAMES, IMAGE_EXTENSIONS, PILLOW_FORMAT_NAMES, RAW_FORMAT_NAMES, has_image_extension, raw_format_of,
    stored_extension, upload_types,
)
from pipeline.images import ALLOWED_FORMATS, DecodeLimits, decode_image


def test_every_listed_format_decodes_and_every_decoder_is_listed():
    assert set(ALLOWED_FORMATS) == set(PILLOW_FORMAT_NAMES)
    assert set(FORMAT_NAMES) == set(PILLOW_FORMAT_NAMES) | set(RAW_FORMAT_NAMES)
    for name in PILLOW_FORMAT_NAMES:  # Pillow (with pillow-heif) writes every one of them
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), (200, 30, 30)).save(buffer, format=name)
        decoded = decode_image(buffer.getvalue(), f"x.{stored_extension(name)}", DecodeLimits())
        assert decoded.ok, (name, decoded.error)
        assert decoded.format == name
        assert has_image_extension(f"photo.{stored_extension(name)}")


def test_phone_and_camera_formats_are_image_names():
    for name in ("IMG_0001.HEIC", "a.heif", "a.avif", "a.mpo", "a.dng", "a.CR2", "a.cr3", "a.nef", "a.arw"):
        assert has_image_extension(name), name
    assert raw_format_of("/photos/DSC_0001.NEF") == "NEF"
    assert raw_format_of("https://host/a.dng?sig=1") == "DNG"
    assert raw_format_of("a.jpg") is None
    assert stored_extension("HEIF") == "heic"


def test_names_that_no_decoder_reads_are_not_image_names():
    for name in ("a.svg", "a.psd", "a.txt", "noext"):
        assert not has_image_extension(name)
    assert set(upload_types()) == {e.lstrip(".") for e in IMAGE_EXTENSIONS}
    assert stored_extension("NOPE") == "bin"
