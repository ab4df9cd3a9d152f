"""Offline reverse geocoding: GPS coordinates -> country, region and city names.

`reverse_geocode` ships GeoNames' cities1000 table inside the package, so no byte leaves the
machine at index or query time. Its loader would download the table if the file were missing: we
check the file is there first and give no place names otherwise, never a network call.

Names come from the nearest place of at least MIN_POPULATION people (GeoNames' "cities15000"
cut): with every hamlet included, central Lisbon resolves to the neighbourhood "Intendente".
A photo further than MAX_DISTANCE_KM from any such place (at sea, deep wilderness) gets no names.
"""

from __future__ import annotations

import logging
import math
import os
import threading

log = logging.getLogger(__name__)

MIN_POPULATION = 15000
MAX_DISTANCE_KM = 100.0
_lock = threading.Lock()
_state: dict = {}


def _geocoder():
    """The loaded reverse_geocode table (~0.4 s and ~100 MB resident, once per process), or None."""
    with _lock:
        if "module" not in _state:
            _state["module"] = None
            try:
                import reverse_geocode
            except ImportError:
                log.warning("reverse_geocode is not installed: photos get coordinates but no place names")
                return None
            data = os.path.join(os.path.dirname(reverse_geocode.__file__), "geocode.gz")
            if not os.path.exists(data):  # its loader would download the table: never from here
                log.warning("reverse_geocode has no bundled data (%s): no place names", data)
                return None
            _state["module"] = reverse_geocode
        return _state["module"]


def place_of(lat: float, lon: float) -> dict[str, str | None]:
    """{"country", "region", "city"} for a coordinate; values None when unknown."""
    empty = {"country": None, "region": None, "city": None}
    geocoder = _geocoder()
    if geocoder is None:
        return empty
    try:
        found = geocoder.get((lat, lon), min_population=MIN_POPULATION)
    except Exception as error:  # noqa: BLE001 - a geocoder failure costs the names, not the photo
        log.warning("reverse geocoding failed for (%s, %s): %s", lat, lon, error)
        return empty
    if distance_km(lat, lon, found["latitude"], found["longitude"]) > MAX_DISTANCE_KM:
        return empty
    return {"country": found.get("country") or None, "region": found.get("state") or None,
            "city": found.get("city") or None}


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))
