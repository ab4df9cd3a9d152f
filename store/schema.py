"""The Arrow schema of one library row: one image, its metadata, its thumbnail and its vector.

The model id and the vector dimension live in the schema metadata so a table always knows
which model produced its vectors (mixing two models' vectors would make every score wrong). Newer
tables also record the model's identity, a dict the encoder computes (name, architecture and a
fingerprint of config and weights), so the same model under another path is recognised.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa

from store.errors import InvalidRowsError

# 1: the image columns. 2: photo metadata (PHOTO_FIELDS), added to older tables by store/upgrade.py.
SCHEMA_VERSION = 2
MODEL_KEY = b"imagesearch.model"
DIM_KEY = b"imagesearch.dim"
SCHEMA_VERSION_KEY = b"imagesearch.schema_version"
IDENTITY_KEY = b"imagesearch.model_identity"

TIMESTAMP = pa.timestamp("us", tz="UTC")
# `id` is the table's (unenforced) primary key. Lance only detects two writers merge-inserting the
# same new id, and retries one of them, when the key is declared; otherwise both insert and the image
# gets two rows. Declared in the schema itself, so creating the table is one step that racing
# creators agree on.
PRIMARY_KEY_METADATA = {b"lance-schema:unenforced-primary-key:position": b"1"}

# What a photo's EXIF says (pipeline/photo_metadata.py), all nullable. `taken_at` is UTC when the
# camera recorded its offset (kept in `taken_at_offset`), else the camera's wall clock read as UTC.
PHOTO_FIELDS = [
    pa.field("taken_at", TIMESTAMP),
    pa.field("taken_at_offset", pa.string()),  # "+01:00", or null when the camera did not say
    pa.field("camera_make", pa.string()),
    pa.field("camera_model", pa.string()),
    pa.field("lens", pa.string()),
    pa.field("focal_length_mm", pa.float32()),
    pa.field("exposure_s", pa.float32()),
    pa.field("f_number", pa.float32()),
    pa.field("iso", pa.int32()),
    pa.field("gps_lat", pa.float64()),  # degrees, north positive
    pa.field("gps_lon", pa.float64()),  # degrees, east positive
    pa.field("gps_alt", pa.float32()),  # metres above sea level
    pa.field("country", pa.string()),  # place names from the offline reverse geocoder
    pa.field("region", pa.string()),
    pa.field("city", pa.string()),
]
PHOTO_COLUMNS = [f.name for f in PHOTO_FIELDS]
LOCATION_COLUMNS = ["gps_lat", "gps_lon", "gps_alt", "country", "region", "city"]  # --no-location

# Columns that describe an image; everything but the heavy `thumbnail` and `vector`.
METADATA_COLUMNS = [
    "id", "uri", "file_name", "description", "tags", "width", "height", "format",
    "file_size", "mtime", "indexed_at", "attributes", *PHOTO_COLUMNS,
]


def image_schema(dim: int, model_id: str, identity: Mapping[str, Any] | None = None) -> pa.Schema:
    fields = [
        pa.field("id", pa.string(), nullable=False, metadata=PRIMARY_KEY_METADATA),  # sha256 of the bytes
        pa.field("uri", pa.string()),
        pa.field("file_name", pa.string()),
        pa.field("description", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("file_size", pa.int64()),
        pa.field("mtime", TIMESTAMP),  # source file's mtime, for incremental re-indexing
        pa.field("indexed_at", TIMESTAMP),
        pa.field("attributes", pa.string()),  # JSON object: e.g. generation parameters
        *PHOTO_FIELDS,
        pa.field("thumbnail", pa.binary()),  # JPEG, longest side <= 256 px, never with EXIF
        pa.field("vector", pa.list_(pa.float32(), dim)),
    ]
    metadata = {
        MODEL_KEY: model_id.encode(),
        DIM_KEY: str(dim).encode(),
        SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode(),
    }
    if identity:
        metadata[IDENTITY_KEY] = json.dumps(dict(identity), sort_keys=True, default=str).encode()
    return pa.schema(fields, metadata=metadata)


def schema_model(schema: pa.Schema) -> tuple[str | None, int | None]:
    """The (model id, dimension) recorded in a table's schema metadata."""
    meta = schema.metadata or {}
    model = meta.get(MODEL_KEY)
    dim = meta.get(DIM_KEY)
    return (model.decode() if model else None, int(dim) if dim else None)


def schema_identity(schema: pa.Schema) -> dict | None:
    """The model identity recorded in a table's schema metadata (None for tables made before it)."""
    raw = (schema.metadata or {}).get(IDENTITY_KEY)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def same_model(recorded_id: str | None, recorded_identity: Mapping[str, Any] | None,
               model_id: str, identity: Mapping[str, Any] | None) -> bool:
    """Whether the model described by (model_id, identity) made a table's vectors. With a
    fingerprint on both sides, the fingerprints decide (any path to the same weights matches; new
    weights under the old path do not); otherwise, as tables without an identity always did, the ids."""
    recorded_fp = (recorded_identity or {}).get("fingerprint")
    given_fp = (identity or {}).get("fingerprint")
    if recorded_fp and given_fp:
        return recorded_fp == given_fp
    return recorded_id == model_id


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def schema_version(schema: pa.Schema) -> int:
    """The layout version a table was written with; tables from before versioning are 1."""
    value = (schema.metadata or {}).get(SCHEMA_VERSION_KEY)
    try:
        return int(value) if value else 1
    except ValueError:
        return 1


def _as_utc(value: Any) -> datetime | None:
    """A UTC datetime from epoch seconds or a datetime. A time Python cannot represent (a file
    touched to the year 10000, NaN, infinity) is None: the row is kept, only that time is unknown."""
    if value is None:
        return None
    if isinstance(value, str):  # ISO-8601, as photo metadata travels between job stages
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRowsError(f"expected an ISO-8601 time, got {value[:40]!r}") from None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    raise InvalidRowsError(f"expected a datetime or epoch seconds, got {type(value).__name__}")


def rows_to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build an Arrow table from row dicts: fills defaults, checks and L2-normalises vectors."""
    rows = list(rows)
    dim = schema.field("vector").type.list_size
    now = datetime.now(timezone.utc)
    columns: dict[str, list] = {name: [] for name in schema.names}
    vectors = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        row_id = row.get("id")
        if not row_id:
            raise InvalidRowsError(f"row {i} has no id")
        vector = np.asarray(row.get("vector"), dtype=np.float32).reshape(-1)
        if vector.shape != (dim,):
            raise InvalidRowsError(f"row {row_id[:12]}: vector has {vector.size} values, table expects {dim}")
        if not np.all(np.isfinite(vector)):
            raise InvalidRowsError(f"row {row_id[:12]}: vector contains NaN or infinity")
        vectors[i] = vector
        attributes = row.get("attributes")
        if attributes is not None and not isinstance(attributes, str):
            attributes = json.dumps(attributes, sort_keys=True, default=str)
        values = {
            "id": row_id,
            "uri": row.get("uri"),
            "file_name": row.get("file_name"),
            "description": row.get("description") or "",
            "tags": [str(t) for t in (row.get("tags") or [])],
            "width": row.get("width"),
            "height": row.get("height"),
            "format": row.get("format"),
            "file_size": row.get("file_size"),
            "mtime": _as_utc(row.get("mtime")),
            "indexed_at": _as_utc(row.get("indexed_at")) or now,
            "attributes": attributes,
            "thumbnail": row.get("thumbnail"),
        }
        for name in PHOTO_COLUMNS:
            values[name] = _as_utc(row.get(name)) if name == "taken_at" else row.get(name)
        for name in schema.names:
            if name != "vector":
                columns[name].append(values.get(name))
    arrays = []
    for field in schema:
        if field.name == "vector":
            flat = pa.array(normalise(vectors).reshape(-1), type=pa.float32())
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, dim))
        else:
            arrays.append(pa.array(columns[field.name], type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)
