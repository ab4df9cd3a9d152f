"""What a photo says about itself: when it was taken, with which camera, where. EXIF -> column values.

`photo_metadata(img)` is a pure function of an opened Pillow image (any format whose plugin exposes
EXIF: JPEG/MPO, TIFF, PNG, WebP, HEIF, AVIF, a RAW's TIFF container). Every value is nullable and
metadata is data, not code: a corrupt EXIF block, an impossible date, a GPS fix off the globe or a
camera name that is not text makes that value None and keeps the others; nothing here raises.

`taken_at` (ISO-8601 text here, a UTC timestamp in the table):
- DateTimeOriginal with OffsetTimeOriginal, else CreateDate (DateTimeDigitized) with
  OffsetTimeDigitized, else DateTime with OffsetTime; never the file's mtime (a copy changes it).
- With an offset the instant is converted to UTC and `taken_at_offset` keeps the offset ("+01:00").
- Without one (most cameras) the camera's wall-clock reading is stored as if it were UTC and
  `taken_at_offset` is None: "taken on 14 July at 10:00" stays 14 July 10:00, whatever the zone.
- Dates before 1901 (cameras reset to 1900:01:01 or 0000:00:00) or after tomorrow are None.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image

from store.schema import LOCATION_COLUMNS, PHOTO_COLUMNS

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, MODEL, DATETIME = 0x010F, 0x0110, 0x0132
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME, OFFSET_ORIGINAL, OFFSET_DIGITIZED = 0x9010, 0x9011, 0x9012
EXPOSURE_TIME, F_NUMBER, ISO, FOCAL_LENGTH = 0x829A, 0x829D, 0x8827, 0x920A
LENS_MAKE, LENS_MODEL = 0xA433, 0xA434
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON, GPS_ALT_REF, GPS_ALT = 1, 2, 3, 4, 5, 6

MIN_YEAR = 1901
MAX_TEXT = 128
_DATE = re.compile(r"^\s*(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")
# Physically plausible ranges; outside them the camera or an editor wrote garbage.
_RANGES = {
    "focal_length_mm": (0.1, 10000.0), "exposure_s": (1e-6, 86400.0), "f_number": (0.3, 1000.0),
    "iso": (1, 10_000_000), "gps_alt": (-1000.0, 100_000.0),
}


def empty_metadata() -> dict[str, Any]:
    return {name: None for name in PHOTO_COLUMNS}


def photo_metadata(img: Image.Image | Image.Exif, *, location: bool = True, now: datetime | None = None) -> dict[str, Any]:
    """Column values for one opened image (or its already loaded EXIF, as for a RAW's TIFF
    container); all None when it carries no (readable) EXIF.

    `location=False` (the --no-location option) leaves GPS and place names out entirely."""
    values = empty_metadata()
    exif = img if isinstance(img, Image.Exif) else _safe(lambda: img.getexif(), None)
    if not exif:
        return values
    ifd0 = _safe(lambda: dict(exif), {})
    sub = _safe(lambda: dict(exif.get_ifd(EXIF_IFD)), {})
    values["taken_at"], values["taken_at_offset"] = _taken_at(ifd0, sub, now or datetime.now(timezone.utc))
    values["camera_make"] = _text(ifd0.get(MAKE))
    values["camera_model"] = _text(ifd0.get(MODEL))
    values["lens"] = _text(sub.get(LENS_MODEL)) or _text(sub.get(LENS_MAKE))
    values["focal_length_mm"] = _in_range("focal_length_mm", _number(sub.get(FOCAL_LENGTH)))
    values["exposure_s"] = _in_range("exposure_s", _number(sub.get(EXPOSURE_TIME)))
    values["f_number"] = _in_range("f_number", _number(sub.get(F_NUMBER)))
    iso = _number(sub.get(ISO))
    values["iso"] = _in_range("iso", int(iso) if iso is not None else None)
    if location:
        gps = _safe(lambda: dict(exif.get_ifd(GPS_IFD)), {})
        values.update(_location(gps))
    return values


def strip_location(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in LOCATION_COLUMNS else v) for k, v in values.items()}


def _safe(get, default):
    try:
        return get()
    except Exception:  # noqa: BLE001 - Pillow raises many types for damaged EXIF; it is only metadata
        return default


def _taken_at(ifd0: dict, sub: dict, now: datetime) -> tuple[str | None, str | None]:
    for date_tag, offset_tag, source in ((DATETIME_ORIGINAL, OFFSET_ORIGINAL, sub),
                                         (DATETIME_DIGITIZED, OFFSET_DIGITIZED, sub),
                                         (DATETIME, OFFSET_TIME, ifd0)):
        moment = _date(source.get(date_tag))
        if moment is None:
            continue
        offset = _offset(sub.get(offset_tag))
        if offset is not None:
            moment = (moment - offset).replace(tzinfo=timezone.utc)
        else:
            moment = moment.replace(tzinfo=timezone.utc)  # wall clock, zone unknown (see module doc)
        if moment.year < MIN_YEAR or moment > now + timedelta(days=1):
            continue
        return moment.isoformat(), _format_offset(offset)
    return None, None


def _date(value: Any) -> datetime | None:
    text = _text(value)
    match = _DATE.match(text or "")
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # 0000:00:00, 2019:02:30, 25:61:00
        return None


def _offset(value: Any) -> timedelta | None:
    match = _OFFSET.match(_text(value) or "")
    if not match:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14) or int(minutes) >= 60:
        return None
    return -delta if sign == "-" else delta


def _format_offset(offset: timedelta | None) -> str | None:
    if offset is None:
        return None
    total = int(offset.total_seconds() // 60)
    sign = "-" if total < 0 else "+"
    return f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


def _text(value: Any) -> str | None:
    """Printable text or None. Pillow hands ASCII tags over as latin-1 characters: UTF-8 written
    there (common) is recovered, anything else (other encodings, binary junk) is not a name."""
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    value = value.split("\x00", 1)[0].strip()
    if any("\x80" <= ch <= "\xff" for ch in value):
        try:
            value = value.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return None
    if not value or not value.isprintable():
        return None
    return value[:MAX_TEXT]


def _number(value: Any) -> float | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    if isinstance(value, bytes):  # a BYTE tag such as GPSAltitudeRef can arrive as raw bytes
        value = value[0] if len(value) == 1 else None
    try:
        number = float(value)  # IFDRational with a zero denominator is NaN
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _in_range(name: str, value):
    low, high = _RANGES[name]
    return value if value is not None and low <= value <= high else None


def _coordinate(value: Any, ref: Any, limit: float, negative: str) -> float | None:
    parts = value if isinstance(value, (tuple, list)) else (value,)
    numbers = [_number(p) for p in parts[:3]]
    if not numbers or any(n is None or n < 0 for n in numbers):
        return None
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    if degrees > limit:
        return None
    ref_text = (_text(ref) or "").upper()
    return -degrees if ref_text.startswith(negative) else degrees


def _location(gps: dict) -> dict[str, Any]:
    values = {name: None for name in LOCATION_COLUMNS}
    lat = _coordinate(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), 90.0, "S")
    lon = _coordinate(gps.get(GPS_LON), gps.get(GPS_LON_REF), 180.0, "W")
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):  # 0,0 is an unset receiver, not a fix
        return values
    values["gps_lat"], values["gps_lon"] = round(lat, 7), round(lon, 7)
    altitude = _number(gps.get(GPS_ALT))
    if altitude is not None and _safe(lambda: int(_number(gps.get(GPS_ALT_REF)) or 0), 0) == 1:
        altitude = -altitude  # AltitudeRef 1: below sea level
    values["gps_alt"] = _in_range("gps_alt", altitude)
    from pipeline.places import place_of

    values.update(place_of(lat, lon))
    return values
