"""Where bytes come from: local paths, s3:// through pyarrow's S3 filesystem, http(s):// through requests.

Credentials and endpoints for s3:// come from the usual AWS variables, read once on the driver and
handed to every worker as plain options (a worker on another node may not share the driver's
environment). No torch, ray or lancedb here.
"""

from __future__ import annotations

import os
from typing import Mapping

REMOTE_SCHEMES = ("s3://", "http://", "https://")


def is_remote(uri: str) -> bool:
    return uri.startswith(REMOTE_SCHEMES)


def s3_options_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """AWS_* variables -> keyword arguments of pyarrow.fs.S3FileSystem (endpoint included)."""
    env = os.environ if env is None else env
    options: dict[str, str] = {}
    for var, key in (("AWS_ACCESS_KEY_ID", "access_key"), ("AWS_SECRET_ACCESS_KEY", "secret_key"),
                     ("AWS_SESSION_TOKEN", "session_token"),
                     ("AWS_REGION", "region"), ("AWS_DEFAULT_REGION", "region")):
        if env.get(var) and key not in options:
            options[key] = env[var]
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        options["endpoint_override"] = rest or scheme
        options["scheme"] = scheme if rest else "https"
    return options


_S3_CACHE: dict[tuple, object] = {}


def s3_filesystem(options: Mapping[str, str] | None = None):
    """One pyarrow S3FileSystem per set of options and process (they hold connection pools)."""
    from pyarrow import fs

    options = dict(s3_options_from_env() if options is None else options)
    key = tuple(sorted(options.items()))
    if key not in _S3_CACHE:
        _S3_CACHE[key] = fs.S3FileSystem(**options)
    return _S3_CACHE[key]


def s3_path(uri: str) -> str:
    """s3://bucket/key -> bucket/key, as pyarrow's S3FileSystem names objects."""
    return uri[len("s3://"):]
