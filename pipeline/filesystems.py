"""pyarrow's S3 filesystem for s3:// sources and error reports.

Credentials and endpoints come from the settings (pipeline/settings.py StorageCredentials), read
once on the driver and handed to every worker as plain options (a worker on another node may not
share the driver's environment). No torch, ray or lancedb here.
"""

from __future__ import annotations

from typing import Mapping

_S3_CACHE: dict[tuple, object] = {}


def s3_filesystem(options: Mapping[str, str] | None = None):
    """One pyarrow S3FileSystem per set of options and process (they hold connection pools)."""
    from pyarrow import fs

    options = dict(options or {})
    key = tuple(sorted(options.items()))
    if key not in _S3_CACHE:
        _S3_CACHE[key] = fs.S3FileSystem(**options)
    return _S3_CACHE[key]


def s3_path(uri: str) -> str:
    """s3://bucket/key -> bucket/key, as pyarrow's S3FileSystem names objects."""
    return uri[len("s3://"):]
