"""Photo metadata from EXIF: when, which camera, where; phone formats; bad metadata becomes nulls."""

import io
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from pipeline.images import DecodeLimits, decode_image
from pipeline.photo_metadata import photo_metadata
from store.schema import LOCATION_COLUMNS, PHOTO_COLUMNS
from tests.photo_files import R, corrupt_exif_jpeg, photo_bytes, photo_exif

LISBON = dict(lat=38.72, lon=-9.14, alt=50)


def decoded_metadata(data: bytes, name: str = "p.jpg", **limits) -> dict:
    decoded = decode_image(data, name, DecodeLimits(**limits), draft_size=224)
    assert decoded.ok, decoded.error
    return decoded.metadata


def test_a_phone_photo_yields_date_camera_exposure_gps_and_place_names():
    exif = photo_exif(taken="2019:07:14 10:00:00", offset="+01:00", make="Apple", model="iPhone 12", **LISBON)
    meta = decoded_metadata(photo_bytes("JPEG", exif=exif))
    assert meta["taken_at"] == "2019-07-14T09:00:00+00:00" and meta["taken_at_offset"] == "+01:00"
    assert (meta["camera_make"], meta["camera_model"]) == ("Apple", "iPhone 12")
    assert (meta["exposure_s"], meta["f_number"], meta["iso"], meta["focal_length_mm"]) == (0.004, 2.8, 200, 50.0)
    assert meta["gps_lat"] == pytest.approx(38.72, abs=1e-4) and meta["gps_lon"] == pytest.approx(-9.14, abs=1e-4)
    assert meta["gps_alt"] == 50.0
    assert (meta["city"], meta["region"], meta["country"]) == ("Lisbon", "Lisbon", "Portugal")


def test_an_altitude_below_sea_level_is_negative():
    meta = decoded_metadata(photo_bytes("JPEG", exif=photo_exif(lat=31.5, lon=35.5, alt=-430)))
    assert meta["gps_alt"] == -430.0


def test_a_date_without_offset_is_the_camera_wall_clock_stored_as_utc():
    meta = decoded_metadata(photo_bytes("JPEG", exif=photo_exif(taken="2019:07:14 10:00:00")))
    assert meta["taken_at"] == "2019-07-14T10:00:00+00:00" and meta["taken_at_offset"] is None


def test_no_exif_means_no_date_taken_never_the_mtime():
    meta = decoded_metadata(photo_bytes("PNG"), "p.png")
    assert set(meta) == set(PHOTO_COLUMNS) and all(v is None for v in meta.values())


@pytest.mark.parametrize("fmt, name", [("HEIF", "IMG_0001.HEIC"), ("AVIF", "a.avif"), ("WEBP", "a.webp"), ("PNG", "a.png")])
def test_phone_and_web_formats_decode_with_their_metadata(fmt, name):
    exif = photo_exif(taken="2020:01:02 03:04:05", make="Apple", model="iPhone 15", **LISBON)
    decoded = decode_image(photo_bytes(fmt, exif=exif), name, DecodeLimits())
    assert decoded.ok, decoded.error
    assert decoded.format == fmt and (decoded.width, decoded.height) == (320, 240)
    assert decoded.metadata["camera_model"] == "iPhone 15" and decoded.metadata["city"] == "Lisbon"
    assert decoded.metadata["taken_at"] == "2020-01-02T03:04:05+00:00"


@pytest.mark.parametrize("fmt", ["JPEG", "HEIF", "AVIF", "PNG", "WEBP", "TIFF"])
def test_exif_orientation_turns_the_picture_upright_in_every_format(fmt):
    decoded = decode_image(photo_bytes(fmt, exif=photo_exif(orientation=6)), f"a.{fmt.lower()}", DecodeLimits())
    assert decoded.ok, decoded.error
    assert (decoded.width, decoded.height) == (240, 320) and decoded.image.size[0] < decoded.image.size[1]


def test_the_stored_thumbnail_carries_no_exif_so_gps_does_not_leak():
    data = photo_bytes("JPEG", exif=photo_exif(make="Apple", **LISBON))
    decoded = decode_image(data, "p.jpg", DecodeLimits())
    assert b"Exif" in data and decoded.metadata["gps_lat"] is not None
    thumb = Image.open(io.BytesIO(decoded.thumbnail))
    assert b"Exif" not in decoded.thumbnail and len(thumb.getexif()) == 0 and "exif" not in thumb.info


def test_no_location_reads_no_gps_and_no_place_but_keeps_the_rest():
    data = photo_bytes("JPEG", exif=photo_exif(taken="2019:07:14 10:00:00", model="iPhone 12", **LISBON))
    meta = decoded_metadata(data, location=False)
    assert all(meta[c] is None for c in LOCATION_COLUMNS)
    assert meta["camera_model"] == "iPhone 12" and meta["taken_at"] is not None


def test_no_location_setting_comes_from_the_environment():
    from pipeline.settings import Settings

    assert Settings.load(env={"IMAGESEARCH_NO_LOCATION": "1"}).limits.location is False
    assert Settings.load(env={}).limits.location is True


# --- bad metadata is data, not a crash ------------------------------------------------------------

def test_a_corrupt_exif_block_gives_nulls_and_the_picture_still_indexes():
    decoded = decode_image(corrupt_exif_jpeg(), "c.jpg", DecodeLimits())
    assert decoded.ok and decoded.thumbnail
    assert all(v is None for v in decoded.metadata.values())


@pytest.mark.parametrize("taken", ["0000:00:00 00:00:00", "1900:01:01 00:00:00", "2999:12:31 23:59:59",
                                   "2019:02:30 10:00:00", "garbage", "    :  :     :  :  "])
def test_impossible_dates_are_null_and_the_camera_is_kept(taken):
    meta = decoded_metadata(photo_bytes("JPEG", exif=photo_exif(taken=taken, model="EOS R5")))
    assert meta["taken_at"] is None and meta["camera_model"] == "EOS R5"


def test_a_bad_original_date_falls_back_to_the_file_datetime():
    exif = photo_exif(taken="0000:00:00 00:00:00")
    exif[0x0132] = "2018:05:06 07:08:09"
    assert decoded_metadata(photo_bytes("JPEG", exif=exif))["taken_at"] == "2018-05-06T07:08:09+00:00"


def test_dates_after_tomorrow_are_impossible():
    img = Image.open(io.BytesIO(photo_bytes("JPEG", exif=photo_exif(taken="2030:01:01 00:00:00"))))
    assert photo_metadata(img, now=datetime(2029, 12, 31, tzinfo=timezone.utc))["taken_at"] is not None
    assert photo_metadata(img, now=datetime(2029, 12, 1, tzinfo=timezone.utc))["taken_at"] is None


@pytest.mark.parametrize("lat, lon", [(95.0, 10.0), (45.0, 200.0), (0.0, 0.0)])
def test_gps_off_the_globe_or_at_null_island_is_no_location(lat, lon):
    meta = decoded_metadata(photo_bytes("JPEG", exif=photo_exif(lat=lat, lon=lon, model="X100V")))
    assert all(meta[c] is None for c in LOCATION_COLUMNS) and meta["camera_model"] == "X100V"


def test_a_zero_denominator_in_a_rational_is_null_not_an_error():
    exif = photo_exif(model="X")
    exif.get_ifd(0x8769)[0x829A] = R(1, 0)
    meta = decoded_metadata(photo_bytes("JPEG", exif=exif))
    assert meta["exposure_s"] is None and meta["camera_model"] == "X"


def test_camera_strings_that_are_not_utf8_text_are_null_and_the_rest_is_kept():
    exif = photo_exif(taken="2019:07:14 10:00:00")
    exif[0x010F] = b"\xff\xfe\x80Can"  # not UTF-8 (and not printable as latin-1 either)
    exif[0x0110] = "Caf\u00e9 Cam".encode("utf-8")  # UTF-8 in an ASCII tag: recovered
    meta = decoded_metadata(photo_bytes("JPEG", exif=exif))
    assert meta["camera_make"] is None and meta["camera_model"] == "Café Cam"
    assert meta["taken_at"] == "2019-07-14T10:00:00+00:00"


def test_an_enormous_maker_note_is_skipped_quickly():
    exif = photo_exif(model="Big Note", taken="2019:07:14 10:00:00")
    exif.get_ifd(0x8769)[0x927C] = b"\x01" * (8 * 1024 * 1024)  # PNG's eXIf chunk has no 64 KB cap
    data = photo_bytes("PNG", exif=exif)
    started = time.perf_counter()
    meta = decoded_metadata(data, "big.png")
    assert meta["camera_model"] == "Big Note" and meta["taken_at"] is not None
    assert time.perf_counter() - started < 5


def test_a_raw_file_without_rawpy_or_damaged_fails_alone_with_one_line():
    decoded = decode_image(b"II*\x00" + b"\x00" * 4096, "DSC_0001.NEF", DecodeLimits())
    assert not decoded.ok and "\n" not in decoded.error
    assert "NEF" in decoded.error and ("rawpy" in decoded.error or "corrupt" in decoded.error)


def test_a_multi_picture_mpo_from_a_phone_decodes_its_first_picture_with_metadata():
    from tests.photo_files import picture

    buffer = io.BytesIO()
    exif = photo_exif(taken="2018:01:02 03:04:05", make="FUJIFILM", model="FinePix REAL 3D W3", **LISBON)
    picture(1).save(buffer, "MPO", save_all=True, append_images=[picture(2)], exif=exif)
    decoded = decode_image(buffer.getvalue(), "DSCF0001.MPO", DecodeLimits())
    assert decoded.ok, decoded.error
    assert decoded.format == "JPEG" and decoded.metadata["camera_model"] == "FinePix REAL 3D W3"
    assert decoded.metadata["city"] == "Lisbon"


def test_without_pillow_heif_a_heic_fails_alone_and_every_other_format_still_decodes(tmp_path):
    import subprocess

    (tmp_path / "a.heic").write_bytes(photo_bytes("HEIF"))
    (tmp_path / "b.jpg").write_bytes(photo_bytes("JPEG"))
    script = (  # a fresh interpreter where pillow-heif cannot be imported, as on an install without it
        "import sys; sys.modules['pillow_heif'] = None\n"
        "from pipeline.images import read_image_file\n"
        f"print(read_image_file({str(tmp_path / 'a.heic')!r}).error)\n"
        f"print(read_image_file({str(tmp_path / 'b.jpg')!r}).ok)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(__file__).resolve().parent.parent))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "HEIC/HEIF needs the optional pillow-heif package (pip install pillow-heif==1.8.1)", "True"]


def test_without_the_geocoder_photos_keep_their_coordinates_and_get_no_place_names(tmp_path):
    import subprocess

    (tmp_path / "a.jpg").write_bytes(photo_bytes("JPEG", exif=photo_exif(**LISBON)))
    script = (
        "import sys; sys.modules['reverse_geocode'] = None\n"
        "from pipeline.images import read_image_file\n"
        f"m = read_image_file({str(tmp_path / 'a.jpg')!r}).metadata\n"
        "print(round(m['gps_lat'], 2), m['city'], m['country'])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=str(Path(__file__).resolve().parent.parent))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "38.72 None None" and "reverse_geocode is not installed" in out.stderr
