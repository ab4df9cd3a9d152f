"""Behaviour of pipeline.images: every file is generated here, nothing is downloaded or committed."""

import hashlib
import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from pipeline import images
from pipeline.images import DecodeLimits, content_id, decode_image, file_name_of, read_image_file, to_rgb


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def gradient_rgb(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(0, 255, height, dtype=np.uint8)
    arr = np.stack(np.broadcast_arrays(x[None, :], y[:, None], np.full((height, width), 128, np.uint8)), -1)
    return Image.fromarray(np.ascontiguousarray(arr), "RGB")


def png_header_only(width: int, height: int, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A PNG whose IHDR claims width x height over a few bytes of data: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def assert_close(pixel, expected, tolerance=12):
    assert all(abs(a - b) <= tolerance for a, b in zip(pixel, expected)), (pixel, expected)


# --- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "WEBP", "TIFF"])
def test_supported_formats_decode_to_rgb_with_original_size_and_format(tmp_path, fmt):
    path = write(tmp_path, f"photo.{fmt.lower()}", encode(gradient_rgb(40, 30), fmt))

    result = read_image_file(path)

    assert result.ok, result.error
    assert (result.width, result.height) == (40, 30)
    assert result.image.mode == "RGB" and result.image.size == (40, 30)
    assert result.format == fmt
    assert result.file_size == path.stat().st_size
    assert result.file_name == path.name and result.uri == str(path)


def test_animated_gif_decodes_its_first_frame(tmp_path):
    red, blue = Image.new("RGB", (20, 10), (255, 0, 0)), Image.new("RGB", (20, 10), (0, 0, 255))
    path = write(tmp_path, "anim.gif", encode(red, "GIF", save_all=True, append_images=[blue], duration=100))

    result = read_image_file(path)

    assert result.ok and result.format == "GIF" and (result.width, result.height) == (20, 10)
    assert_close(result.image.getpixel((5, 5)), (255, 0, 0))


def test_multi_picture_jpeg_is_reported_as_jpeg():
    frame = gradient_rgb(16, 16)
    result = decode_image(encode(frame, "MPO", save_all=True, append_images=[frame]), "camera.jpg")

    assert result.ok and result.format == "JPEG"


@pytest.mark.parametrize("fmt,reason", [("ICO", "unsupported format ICO"), ("PCX", "unsupported format PCX")])
def test_formats_pillow_knows_but_we_do_not_allow_are_refused_as_unsupported(fmt, reason):
    result = decode_image(encode(Image.new("RGB", (16, 16)), fmt), "icon.jpg")

    assert not result.ok and result.error == reason


# --- identity ----------------------------------------------------------------------------------


def test_id_is_sha256_of_the_file_bytes_and_identical_for_the_same_bytes_under_two_names(tmp_path):
    data = encode(gradient_rgb(8, 8), "PNG")
    first = read_image_file(write(tmp_path, "a.png", data))
    second = read_image_file(write(tmp_path, "copy of a.png", data))

    assert first.id == second.id == hashlib.sha256(data).hexdigest() == content_id(data)
    assert (first.file_name, second.file_name) == ("a.png", "copy of a.png")


@pytest.mark.parametrize(
    "uri,name",
    [
        ("/data/photos/cat.jpg", "cat.jpg"),
        ("relative/dog.png", "dog.png"),
        ("https://example.com/a/b/bird.webp?X-Amz-Signature=abc#top", "bird.webp"),
        ("s3://bucket/prefix/fish.tiff", "fish.tiff"),
        ("file:///tmp/with%20space.gif", "with space.gif"),
        ("photo#1.jpg", "photo#1.jpg"),
    ],
)
def test_file_name_is_the_last_path_component_of_paths_and_uris(uri, name):
    assert file_name_of(uri) == name


# --- orientation and colour modes --------------------------------------------------------------


def test_exif_orientation_6_rotates_the_image_and_swaps_width_and_height():
    exif = Image.Exif()
    exif[0x0112] = 6
    result = decode_image(encode(gradient_rgb(40, 20), "JPEG", exif=exif), "rotated.jpg")

    assert result.ok
    assert (result.width, result.height) == (20, 40) and result.image.size == (20, 40)


def test_a_corrupt_exif_block_does_not_fail_the_image():
    data = encode(gradient_rgb(40, 20), "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff garbage")

    result = decode_image(data, "bad-exif.jpg")

    assert result.ok, result.error
    assert (result.width, result.height) == (40, 20)


def test_palette_transparency_is_composited_on_white():
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 5, 10))  # left half red, right half palette index 0 = transparent black
    img.info["transparency"] = 0

    result = decode_image(encode(img, "PNG", transparency=0), "palette.png")

    assert result.ok
    assert result.image.getpixel((8, 5)) == (255, 255, 255)
    assert result.image.getpixel((2, 5)) == (255, 0, 0)


@pytest.mark.parametrize("mode,transparent", [("RGBA", (0, 0, 0, 0)), ("LA", (0, 0))])
def test_alpha_images_are_composited_on_white_not_black(mode, transparent):
    img = Image.new(mode, (10, 10), transparent)

    result = decode_image(encode(img, "PNG"), f"{mode}.png")

    assert result.ok and result.image.mode == "RGB"
    assert result.image.getpixel((5, 5)) == (255, 255, 255)


def test_half_transparent_red_blends_towards_white():
    result = decode_image(encode(Image.new("RGBA", (4, 4), (255, 0, 0, 128)), "PNG"), "half.png")

    assert_close(result.image.getpixel((1, 1)), (255, 127, 127), tolerance=2)


def test_cmyk_jpeg_with_adobe_inverted_data_keeps_its_colours():
    red_and_blue = Image.new("CMYK", (16, 8), (0, 255, 255, 0))
    red_and_blue.paste((255, 255, 0, 0), (8, 0, 16, 8))
    data = encode(red_and_blue, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).info.get("adobe")  # Pillow writes the inverted Adobe flavour

    result = decode_image(data, "print.jpg")

    assert result.ok and result.image.mode == "RGB"
    assert_close(result.image.getpixel((2, 4)), (255, 0, 0), tolerance=30)
    assert_close(result.image.getpixel((13, 4)), (0, 0, 255), tolerance=30)


def test_16_bit_png_gradient_keeps_its_gradient_instead_of_clipping_to_white():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (4, 1))
    data = encode(Image.fromarray(ramp), "PNG")

    result = decode_image(data, "depth.png")

    assert result.ok
    row = np.asarray(result.image)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and 120 <= row[32] <= 135
    assert np.all(np.diff(row.astype(int)) >= 0)


@pytest.mark.parametrize(
    "img,expected",
    [
        (Image.frombytes("I;16B", (2, 1), struct.pack(">HH", 0, 65535)), [0, 255]),
        (Image.frombytes("I;16", (2, 1), struct.pack("<HH", 32896, 65535)), [128, 255]),
        (Image.fromarray(np.array([[0, 40000]], dtype=np.int32)), [0, 156]),
        (Image.fromarray(np.array([[-5, 5]], dtype=np.int32)), [0, 255]),
        (Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)), [0, 128, 255]),
        (Image.fromarray(np.array([[10.0, 1010.0]], dtype=np.float32)), [0, 255]),
    ],
    ids=["I;16B", "I;16", "I-16bit-range", "I-signed", "F-unit", "F-wide"],
)
def test_to_rgb_rescales_wide_integer_and_float_modes_to_8_bit(img, expected):
    rgb = to_rgb(img)

    assert rgb.mode == "RGB"
    assert np.asarray(rgb)[0, :, 0].tolist() == expected


def test_float_tiff_decodes_with_its_range_stretched():
    data = encode(Image.fromarray(np.linspace(0, 4000, 32, dtype=np.float32).reshape(4, 8)), "TIFF")

    result = decode_image(data, "elevation.tiff")

    assert result.ok and result.format == "TIFF"
    assert np.asarray(result.image).max() == 255 and np.asarray(result.image).min() == 0


@pytest.mark.parametrize("mode,value,expected", [("1", 1, (255, 255, 255)), ("L", 100, (100, 100, 100))])
def test_bilevel_and_grayscale_images_become_gray_rgb(mode, value, expected):
    result = decode_image(encode(Image.new(mode, (9, 7), value), "PNG"), f"{mode}.png")

    assert result.ok and result.image.mode == "RGB"
    assert result.image.getpixel((4, 3)) == expected


def test_a_one_pixel_image_decodes_and_gets_a_one_pixel_thumbnail():
    result = decode_image(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"), "dot.png")

    assert result.ok and (result.width, result.height) == (1, 1)
    assert Image.open(io.BytesIO(result.thumbnail)).size == (1, 1)


# --- thumbnails and draft decoding -------------------------------------------------------------


def test_thumbnail_is_a_jpeg_whose_longest_side_is_at_most_256_with_aspect_kept():
    result = decode_image(encode(gradient_rgb(1000, 500), "PNG"), "wide.png")

    thumb = Image.open(io.BytesIO(result.thumbnail))
    assert thumb.format == "JPEG" and thumb.mode == "RGB"
    assert thumb.size == (256, 128)


def test_thumbnail_is_never_upscaled_and_follows_the_configured_size():
    small = decode_image(encode(gradient_rgb(100, 60), "PNG"), "small.png")
    custom = decode_image(encode(gradient_rgb(300, 300), "PNG"), "sq.png", DecodeLimits(thumbnail_size=64))

    assert Image.open(io.BytesIO(small.thumbnail)).size == (100, 60)
    assert Image.open(io.BytesIO(custom.thumbnail)).size == (64, 64)


def test_draft_size_decodes_a_smaller_jpeg_but_reports_the_original_size():
    data = encode(gradient_rgb(2000, 1000), "JPEG")

    result = decode_image(data, "big.jpg", draft_size=224)

    assert result.ok and (result.width, result.height) == (2000, 1000)
    assert result.image.size == (1000, 500)  # DCT scaling by 2: shorter side still >= 2 x 224
    assert Image.open(io.BytesIO(result.thumbnail)).size == (256, 128)


def test_draft_size_with_exif_rotation_reports_the_rotated_original_size():
    exif = Image.Exif()
    exif[0x0112] = 6
    result = decode_image(encode(gradient_rgb(2000, 1000), "JPEG", exif=exif), "r.jpg", draft_size=224)

    assert (result.width, result.height) == (1000, 2000) and result.image.size == (500, 1000)


def test_draft_size_is_ignored_for_formats_without_dct_scaling():
    result = decode_image(encode(gradient_rgb(600, 300), "PNG"), "big.png", draft_size=224)

    assert result.ok and result.image.size == (600, 300)


# --- refusals ----------------------------------------------------------------------------------


def test_a_zero_byte_file_is_refused(tmp_path):
    result = read_image_file(write(tmp_path, "empty.jpg", b""))

    assert result.error == "empty file (0 bytes)" and result.id == "" and result.image is None


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_truncated_image_fails_with_a_reason(fmt):
    data = encode(gradient_rgb(200, 200), fmt)

    result = decode_image(data[: len(data) // 2], "cut." + fmt.lower())

    assert not result.ok
    assert result.error.startswith("truncated or corrupt image data:")
    assert result.id == content_id(data[: len(data) // 2])
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"just some notes, certainly not pixels\n", "not an image (looks like text)"),
        (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>", "not an image (looks like HTML)"),
        (bytes(range(7, 250)) * 3, "not an image (unrecognised format)"),
    ],
)
def test_non_image_bytes_renamed_jpg_are_not_images(tmp_path, content, reason):
    result = read_image_file(write(tmp_path, "fake.jpg", content))

    assert result.error == reason and result.image is None


def test_svg_is_refused_as_an_unsupported_format(tmp_path):
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'

    assert read_image_file(write(tmp_path, "logo.jpg", svg)).error == "unsupported format SVG"


@pytest.mark.parametrize(
    "width,height,reason",
    [
        (12000, 10000, "image too large: 12000x10000 = 120.0 MP > 100.0 MP limit"),  # our own check
        (20000, 20000, "image too large: 20000x20000 = 400.0 MP > 100.0 MP limit"),  # Pillow's guard fires first
    ],
)
def test_a_decompression_bomb_header_is_refused_before_any_pixel_is_decoded(monkeypatch, width, height, reason):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)

    result = decode_image(png_header_only(width, height), "bomb.png")

    assert result.error == reason
    assert (result.width, result.height) == (width, height) and result.format == "PNG"


def test_a_real_1_bit_bomb_png_that_is_small_on_disk_is_refused():
    data = encode(Image.new("1", (20000, 20000)), "PNG")
    assert len(data) < 100_000

    assert decode_image(data, "bomb.png").error == "image too large: 20000x20000 = 400.0 MP > 100.0 MP limit"


def test_the_pixel_limit_is_configurable():
    result = decode_image(encode(Image.new("RGB", (100, 60)), "PNG"), "a.png", DecodeLimits(max_pixels=5000))

    assert result.error == "image too large: 100x60 = 6000 pixels > 5000 pixels limit"


def test_pillows_own_bomb_guard_is_reported_as_too_large_and_its_warning_does_not_leak():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any leaked DecompressionBombWarning would fail the test
        within_our_limit = decode_image(png_header_only(10000, 9500), "95mp.png")
        hard_guard = decode_image(png_header_only(100000, 100000), "huge.png", DecodeLimits(max_pixels=10**12))

    assert within_our_limit.error.startswith("truncated or corrupt image data:")  # got past the header
    assert hard_guard.error.startswith("image too large for Pillow's decompression-bomb guard")
    assert (hard_guard.width, hard_guard.height) == (100000, 100000)


def test_a_file_over_max_file_bytes_is_refused_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "huge.jpg"
    with open(path, "wb") as f:
        f.truncate(10 * 1024**3)  # sparse: 10 GB claimed, nothing written

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(images, "open", no_reading, raising=False)
    result = read_image_file(path)

    assert result.error == "file too large: 10240.0 MB > 50.0 MB limit"
    assert result.file_size == 10 * 1024**3 and result.id == ""


def test_bytes_over_max_file_bytes_are_refused_by_decode_image_too():
    limits = DecodeLimits(max_file_bytes=1024 * 1024)

    result = decode_image(b"\xff\xd8" + b"\0" * (2 * 1024 * 1024), "big.jpg", limits)

    assert result.error == "file too large: 2.0 MB > 1.0 MB limit"


def test_missing_files_directories_and_pipes_are_refused_with_a_reason(tmp_path):
    assert read_image_file(tmp_path / "nope.jpg").error == "file not found"
    assert read_image_file(tmp_path).error == "is a directory, not a file"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.jpg")
        assert read_image_file(tmp_path / "pipe.jpg").error == "not a regular file"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_file_is_refused_with_a_reason(tmp_path):
    path = write(tmp_path, "secret.png", encode(Image.new("RGB", (2, 2)), "PNG"))
    path.chmod(0)

    assert read_image_file(path).error == "permission denied"


def test_every_failure_is_one_line_without_an_image(tmp_path):
    jpeg = encode(gradient_rgb(64, 64), "JPEG")
    bad_inputs = [
        b"",
        b"\n\n\n",
        jpeg[:100],
        jpeg[:-200],
        b"\xff\xd8\xff" + b"\n" * 50,
        b"\x89PNG\r\n\x1a\n" + b"\n" * 40,
        b"GIF89a\n\n\n\n",
        b"BM" + b"\xff" * 60,
        b"II*\x00" + b"\xff" * 60,
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\n" * 30,
        png_header_only(0, 10),
        png_header_only(50000, 50000),
    ]
    for data in bad_inputs:
        result = decode_image(data, "bad.jpg")
        assert not result.ok and result.image is None
        assert result.error and "\n" not in result.error and "Traceback" not in result.error, result.error


def test_a_path_through_a_file_is_refused_as_not_found(tmp_path):
    parent = write(tmp_path, "not-a-dir.png", b"x")

    assert read_image_file(parent / "child.png").error.startswith("file not found")


def test_decode_image_accepts_bytearray_and_memoryview():
    data = encode(gradient_rgb(8, 4), "PNG")

    for view in (bytearray(data), memoryview(data)):
        result = decode_image(view, "buffer.png")
        assert result.ok and result.id == content_id(data)


@pytest.mark.parametrize("size", [(1, 20000), (1_000_000, 1)])
def test_an_aspect_ratio_bomb_is_cropped_before_the_encoder_resizes_it(size, tiny_clip_dir):
    """A 1x20000 PNG is 164 bytes and 20,000 pixels; stretched so its short side is 224 px it would
    be 224x4,480,000 (10 GB). The encoder only ever sees the centre square, so the long side is cut
    to MAX_ASPECT_RATIO times the short one first: same pixels for the model, bounded memory."""
    import time

    from pipeline.encoder import ClipEncoder
    buf = io.BytesIO()
    Image.new("L", size, 128).save(buf, "PNG", optimize=True)
    decoded = decode_image(buf.getvalue(), "strip.png")
    assert decoded.ok and (decoded.width, decoded.height) == size
    assert max(decoded.image.size) <= images.MAX_ASPECT_RATIO * min(decoded.image.size)
    started = time.monotonic()
    vector = ClipEncoder(tiny_clip_dir, device="cpu").encode_images([decoded.image])[0]
    assert np.isfinite(vector).all() and time.monotonic() - started < 10


def test_cropping_a_wide_image_to_the_aspect_limit_keeps_what_the_encoder_sees(tiny_clip_dir):
    from pipeline.encoder import ClipEncoder
    rng = np.random.default_rng(0)
    wide = Image.fromarray(rng.integers(0, 256, (20, 20 * 40, 3), dtype=np.uint8), "RGB")
    encoder = ClipEncoder(tiny_clip_dir, device="cpu")
    full, cropped = encoder.prepare_images([wide, images.crop_extreme_aspect(wide)])
    assert np.abs(full.astype(int) - cropped.astype(int)).mean() < 2


def test_kernel_files_that_block_are_refused_without_being_opened():
    """/proc/kmsg is a 'regular file' whose read blocks until the kernel logs something."""
    started = __import__("time").monotonic()
    data, reason, _ = images.read_file_bytes("/proc/kmsg")
    assert data is None and reason.startswith("not a regular file")
    assert __import__("time").monotonic() - started < 1
    assert images.read_file_bytes("/proc/self/status")[1].startswith("not a regular file")
