"""Camera RAW through rawpy: the embedded JPEG preview when it is big enough, else a half-size
demosaic; limits before decoding; metadata from the TIFF container. Fixtures are minimal DNGs
written byte by byte (tests/raw_files.py): no real camera's file could be produced here."""

import io
import sys

import pytest
from PIL import Image

from pipeline.images import DecodeLimits, decode_image
from tests.raw_files import dng_bytes

pytest.importorskip("rawpy")


def jpeg(size, colour=(200, 50, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_a_dng_with_a_jpeg_preview_decodes_the_preview_with_the_raw_files_metadata():
    data = dng_bytes(preview_jpeg=jpeg((320, 240)), preview_size=(320, 240), make="Testcam", model="DNG-1")
    decoded = decode_image(data, "IMG_0001.DNG", DecodeLimits())
    assert decoded.ok, decoded.error
    assert decoded.format == "DNG" and (decoded.width, decoded.height) == (256, 192)  # the sensor's size
    assert decoded.image.size == (320, 240) and decoded.image.getpixel((10, 10))[0] > 180  # the red preview
    assert (decoded.metadata["camera_make"], decoded.metadata["camera_model"]) == ("Testcam", "DNG-1")
    assert decoded.metadata["taken_at"] == "2021-05-06T07:08:09+00:00"
    assert decoded.thumbnail and b"Exif" not in decoded.thumbnail


def test_a_dng_without_a_usable_preview_is_demosaiced_at_half_size():
    for data in (dng_bytes(), dng_bytes(preview_jpeg=jpeg((160, 120)), preview_size=(160, 120))):
        decoded = decode_image(data, "a.dng", DecodeLimits())
        assert decoded.ok, decoded.error
        assert decoded.image.size == (128, 96) and (decoded.width, decoded.height) == (256, 192)
        assert decoded.metadata["camera_model"] == "DNG-1"


def test_a_rotated_camera_turns_the_preview_upright():
    data = dng_bytes(preview_jpeg=jpeg((320, 240)), preview_size=(320, 240), orientation=6)
    decoded = decode_image(data, "a.dng", DecodeLimits())
    assert decoded.ok, decoded.error
    assert decoded.image.size == (240, 320) and (decoded.width, decoded.height) == (192, 256)


def test_the_pixel_limit_is_checked_from_the_raw_header_before_demosaicing():
    decoded = decode_image(dng_bytes(), "a.dng", DecodeLimits(max_pixels=10_000))
    assert not decoded.ok and decoded.error.startswith("image too large: 256x192")


def test_a_truncated_raw_fails_alone_with_one_line():
    decoded = decode_image(dng_bytes()[:300], "a.nef", DecodeLimits())
    assert not decoded.ok and "\n" not in decoded.error and "NEF" in decoded.error


def test_without_rawpy_a_raw_file_says_which_package_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "rawpy", None)  # what an install without the optional package sees
    decoded = decode_image(dng_bytes(), "DSC_0001.ARW", DecodeLimits())
    assert decoded.error == "camera RAW (ARW) needs the optional rawpy package (pip install rawpy==0.28.0)"


def test_a_dng_indexes_with_its_camera(tmp_path, tiny_clip_dir):
    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import index
    from store import ImageLibrary

    path = tmp_path / "shot.dng"
    path.write_bytes(dng_bytes(preview_jpeg=jpeg((320, 240)), preview_size=(320, 240)))
    library = ImageLibrary(str(tmp_path / "db"))
    report = index(library, ClipEncoder(tiny_clip_dir, device="cpu"), [str(path)])
    assert report.indexed == 1, report
    row = library.query(select=["format", "camera_model", "taken_at"]).to_pylist()[0]
    assert row["format"] == "DNG" and row["camera_model"] == "DNG-1" and row["taken_at"].year == 2021
