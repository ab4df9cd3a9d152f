"""Library analytics for charts: read only the columns each figure needs, straight from Lance.

Each function takes an `ImageLibrary` and returns plain lists/dicts (no pandas, no plotting), so
the dashboard draws them and tests check them without a browser.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def _columns(library, columns: list[str]) -> pa.Table:
    return library.table.to_lance().to_table(columns=columns)


def histogram(values: list[float], bins: int = 12, log: bool = False) -> list[dict[str, Any]]:
    """Equal-width bins (in log10 space when `log`): [{"bin": label, "low", "high", "count"}]."""
    clean = [float(v) for v in values if v is not None and (v > 0 or not log)]
    if not clean:
        return []
    data = [math.log10(v) for v in clean] if log else clean
    low, high = min(data), max(data)
    if high == low:
        high = low + 1.0
    width = (high - low) / bins
    counts = [0] * bins
    for v in data:
        counts[min(int((v - low) / width), bins - 1)] += 1
    result = []
    for i, count in enumerate(counts):
        a, b = low + i * width, low + (i + 1) * width
        if log:
            a, b = 10**a, 10**b
        result.append({"bin": i, "low": a, "high": b, "count": count})
    return result


def format_counts(library) -> dict[str, int]:
    data = _columns(library, ["format"])
    if not data.num_rows:
        return {}
    counts = data["format"].fill_null("unknown").value_counts()
    pairs = {item["values"].as_py(): item["counts"].as_py() for item in counts}
    return dict(sorted(pairs.items(), key=lambda kv: -kv[1]))


def megapixel_histogram(library, bins: int = 12) -> list[dict[str, Any]]:
    """Resolution as megapixels (width x height / 1e6), log-spaced bins."""
    data = _columns(library, ["width", "height"])
    if not data.num_rows:
        return []
    pixels = pc.multiply(pc.cast(data["width"], pa.float64()), pc.cast(data["height"], pa.float64()))
    return histogram([p / 1e6 for p in pixels.to_pylist() if p], bins=bins, log=True)


def file_size_histogram(library, bins: int = 12) -> list[dict[str, Any]]:
    """Original file sizes in bytes, log-spaced bins."""
    data = _columns(library, ["file_size"])
    return histogram(data["file_size"].to_pylist(), bins=bins, log=True)


def indexed_per_day(library) -> list[dict[str, Any]]:
    """[{"day": date, "count": n, "total": cumulative}] in day order."""
    data = _columns(library, ["indexed_at"])
    if not data.num_rows:
        return []
    days = pc.floor_temporal(data["indexed_at"], unit="day").to_pylist()
    counts: dict[datetime, int] = {}
    for day in days:
        if day is not None:
            counts[day] = counts.get(day, 0) + 1
    total, result = 0, []
    for day in sorted(counts):
        total += counts[day]
        result.append({"day": day.date(), "count": counts[day], "total": total})
    return result


def index_status(library) -> dict[str, Any]:
    """Which columns carry an index; the vector column's decides whether search is exact or ANN."""
    indices = list(library.table.list_indices())
    described = []
    vector_index = None
    for index in indices:
        name = getattr(index, "name", str(index))
        columns = list(getattr(index, "columns", []) or [])
        kind = str(getattr(index, "index_type", "") or "")
        described.append({"name": name, "columns": columns, "type": kind})
        if "vector" in columns:
            vector_index = kind or name
    return {
        "indices": described,
        "vector_index": vector_index,
        "summary": f"{vector_index} (approximate)" if vector_index else "none (exact search)",
    }


def photo_summary(library, top: int = 5) -> dict[str, Any]:
    """How many rows have a date taken and a location, and the most common cameras."""
    names = library.table.schema.names
    if "taken_at" not in names:  # a table from before the photo columns (python -m pipeline upgrade)
        return {"with_taken_at": 0, "with_location": 0, "top_cameras": []}
    data = _columns(library, ["taken_at", "gps_lat", "camera_make", "camera_model"])
    counts: dict[str, int] = {}
    for make, model in zip(data["camera_make"].to_pylist(), data["camera_model"].to_pylist()):
        name = camera_name(make, model)
        if name:
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {
        "with_taken_at": data.num_rows - data["taken_at"].null_count,
        "with_location": data.num_rows - data["gps_lat"].null_count,
        "top_cameras": [{"camera": name, "count": count} for name, count in ranked],
    }


def camera_name(make: str | None, model: str | None) -> str | None:
    """'Apple' + 'iPhone 12' -> 'Apple iPhone 12'; 'Canon' + 'Canon EOS R5' -> 'Canon EOS R5'."""
    if not model:
        return make or None
    if make and not model.lower().startswith(make.split()[0].lower()):
        return f"{make} {model}"
    return model


def taken_per_month(library) -> list[dict[str, Any]]:
    """[{"month": date (first day), "count": n}] by date taken, months without photos left out."""
    if "taken_at" not in library.table.schema.names:
        return []
    data = _columns(library, ["taken_at"])
    months = pc.floor_temporal(data["taken_at"], unit="month").to_pylist() if data.num_rows else []
    counts: dict[datetime, int] = {}
    for month in months:
        if month is not None:
            counts[month] = counts.get(month, 0) + 1
    return [{"month": month.date(), "count": counts[month]} for month in sorted(counts)]


def geotagged(library, where: str | None = None, limit: int = 20000) -> list[dict[str, Any]]:
    """Coordinates of geotagged photos (for a map): [{"lat", "lon", "file_name", "city"}]."""
    if "gps_lat" not in library.table.schema.names:
        return []
    clause = "gps_lat IS NOT NULL AND gps_lon IS NOT NULL" + (f" AND ({where})" if where else "")
    data = library.table.to_lance().to_table(columns=["gps_lat", "gps_lon", "file_name", "city"],
                                             filter=clause, limit=limit)
    return [{"lat": r["gps_lat"], "lon": r["gps_lon"], "file_name": r["file_name"], "city": r["city"]}
            for r in data.to_pylist()]


def folder_of(uri: str) -> str:
    """The directory part of a uri ('/photos/2024/a.jpg' -> '/photos/2024')."""
    head, _, _ = (uri or "").rpartition("/")
    return head or "/"


def folder_counts(library) -> dict[str, int]:
    """Source folder -> images directly in it, largest first (the dashboard's folder filter)."""
    counts: dict[str, int] = {}
    for uri in _columns(library, ["uri"])["uri"].to_pylist():
        folder = folder_of(uri)
        counts[folder] = counts.get(folder, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
