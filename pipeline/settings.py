"""One typed settings object: defaults, then environment variables, then explicit arguments.

Each entry point (the CLI, the dashboard, the HTTP API, the demo) calls `Settings.load(...)` once and
passes the result down; library code reads no environment of its own. `store/` is handed plain
values (a path, credentials, read_only) by `Settings.open_library`.

    IMAGESEARCH_DB, _TABLE, _MODEL, _DEVICE, _READ_ONLY, _MEDIA, _MAX_FILE_MB, _MAX_PIXELS,
    _HTTP_TIMEOUT, _NO_LOCATION, _VECTOR_CACHE_MB, _SD_MODEL, _SD_DTYPE, _SD_SCHEDULER, _SD_ATTENTION_SLICING, _SD_CPU_OFFLOAD,
    RAY_ADDRESS, and the usual AWS_* variables for s3:// databases and sources.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Mapping

from pipeline.errors import BadInputError
from pipeline.images import DecodeLimits

if TYPE_CHECKING:
    from store import ImageLibrary

DEFAULT_DB = "./data/lancedb"  # the same defaults as store.DEFAULT_DB / DEFAULT_TABLE (kept in sync by a test)
DEFAULT_TABLE = "images"
_MB = 1024 * 1024
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _flag(name: str, text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadInputError(f"{name} must be 1 or 0 (true/false), got {text!r}")


def _positive(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{name} must be a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise BadInputError(f"{name} must be a positive number, got {text!r}")
    return value


@dataclass(frozen=True)
class StorageCredentials:
    """Object-store credentials from the usual AWS variables: the one parser, in two dialects
    (LanceDB's storage options for s3:// databases, pyarrow's S3FileSystem for s3:// sources)."""

    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    endpoint: str | None = None  # e.g. http://127.0.0.1:9000 for MinIO or moto

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "StorageCredentials":
        get = lambda *names: next((env[n] for n in names if env.get(n)), None)  # noqa: E731
        return cls(access_key=get("AWS_ACCESS_KEY_ID"), secret_key=get("AWS_SECRET_ACCESS_KEY"),
                   session_token=get("AWS_SESSION_TOKEN"), region=get("AWS_REGION", "AWS_DEFAULT_REGION"),
                   endpoint=get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"))

    def __repr__(self) -> str:  # never print secrets
        return f"StorageCredentials(region={self.region!r}, endpoint={self.endpoint!r}, key={'set' if self.access_key else 'unset'})"

    def lance_options(self) -> dict[str, str]:
        names = (("access_key", "aws_access_key_id"), ("secret_key", "aws_secret_access_key"),
                 ("session_token", "aws_session_token"), ("region", "region"), ("endpoint", "aws_endpoint"))
        options = {key: getattr(self, attr) for attr, key in names if getattr(self, attr)}
        if (self.endpoint or "").startswith("http://"):
            options["allow_http"] = "true"
        return options

    def pyarrow_options(self) -> dict[str, str]:
        names = (("access_key", "access_key"), ("secret_key", "secret_key"),
                 ("session_token", "session_token"), ("region", "region"))
        options = {key: getattr(self, attr) for attr, key in names if getattr(self, attr)}
        if self.endpoint:
            scheme, _, rest = self.endpoint.partition("://")
            options["endpoint_override"] = rest or scheme
            options["scheme"] = scheme if rest else "https"
        return options


@dataclass(frozen=True)
class Settings:
    db: str = DEFAULT_DB
    table: str = DEFAULT_TABLE
    model: str | None = None  # None: the model the table was built with, else the default model
    device: str = "auto"
    read_only: bool = False  # every write is refused by the library itself
    media: str | None = None  # None: `media/` beside a local database
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    sd_model: str | None = None
    sd_dtype: str = "auto"
    sd_scheduler: str | None = None
    sd_attention_slicing: bool | None = None  # None: automatic
    sd_cpu_offload: bool = False
    ray_address: str | None = None
    storage: StorageCredentials = field(default_factory=StorageCredentials)
    vector_cache_mb: float = 1024  # memory for the in-memory vector cache (0: always search in LanceDB)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **explicit: Any) -> "Settings":
        """Defaults, then `env` (default: the process environment), then `explicit` values that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, var in (("db", "IMAGESEARCH_DB"), ("table", "IMAGESEARCH_TABLE"), ("model", "IMAGESEARCH_MODEL"),
                          ("device", "IMAGESEARCH_DEVICE"), ("media", "IMAGESEARCH_MEDIA"),
                          ("sd_model", "IMAGESEARCH_SD_MODEL"), ("sd_dtype", "IMAGESEARCH_SD_DTYPE"),
                          ("sd_scheduler", "IMAGESEARCH_SD_SCHEDULER"), ("ray_address", "RAY_ADDRESS")):
            if env.get(var, "").strip():
                values[name] = env[var].strip()
        if "IMAGESEARCH_READ_ONLY" in env:
            values["read_only"] = _flag("IMAGESEARCH_READ_ONLY", env["IMAGESEARCH_READ_ONLY"])
        if env.get("IMAGESEARCH_SD_CPU_OFFLOAD", "").strip():
            values["sd_cpu_offload"] = _flag("IMAGESEARCH_SD_CPU_OFFLOAD", env["IMAGESEARCH_SD_CPU_OFFLOAD"])
        slicing = env.get("IMAGESEARCH_SD_ATTENTION_SLICING", "").strip()
        if slicing and slicing.lower() != "auto":
            values["sd_attention_slicing"] = _flag("IMAGESEARCH_SD_ATTENTION_SLICING", slicing)
        cache = env.get("IMAGESEARCH_VECTOR_CACHE_MB", "").strip()
        if cache:
            values["vector_cache_mb"] = 0.0 if cache == "0" else _positive("IMAGESEARCH_VECTOR_CACHE_MB", cache)
        values["limits"] = _limits_from_env(env)
        values["storage"] = StorageCredentials.from_env(env)
        known = {f.name for f in fields(cls)}
        unknown = set(explicit) - known
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in explicit.items() if v is not None})
        return cls(**values)

    def but(self, **changes: Any) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def open_library(self, **kwargs: Any) -> "ImageLibrary":
        """The library these settings name, with their credentials and read-only flag."""
        from store import ImageLibrary

        return ImageLibrary(self.db, self.table, storage_options=self.storage.lance_options() or None,
                            read_only=self.read_only, vector_cache_mb=self.vector_cache_mb, **kwargs)

    def media_dir(self) -> str:
        """Where the library keeps files it stores itself (uploads, generated images)."""
        from pipeline.media import resolve_media_dir

        return resolve_media_dir(self.db, self.media)

    def model_for(self, library: "ImageLibrary | None") -> str:
        """The explicit/env model, else the model the table was built with, else the default."""
        from pipeline.encoder import resolve_model

        return resolve_model(self.model, library.recorded_model() if library is not None else None)


def _limits_from_env(env: Mapping[str, str]) -> DecodeLimits:
    kwargs: dict[str, Any] = {}
    mb = env.get("IMAGESEARCH_MAX_FILE_MB", "").strip()
    if mb:
        kwargs["max_file_bytes"] = int(_positive("IMAGESEARCH_MAX_FILE_MB", mb) * _MB)
    pixels = env.get("IMAGESEARCH_MAX_PIXELS", "").strip()
    if pixels:
        value = _positive("IMAGESEARCH_MAX_PIXELS", pixels)
        if not value.is_integer():
            raise BadInputError(f"IMAGESEARCH_MAX_PIXELS must be a whole number of pixels, got {pixels!r}")
        kwargs["max_pixels"] = int(value)
    timeout = env.get("IMAGESEARCH_HTTP_TIMEOUT", "").strip()
    if timeout:
        kwargs["http_timeout_s"] = _positive("IMAGESEARCH_HTTP_TIMEOUT", timeout)
    if env.get("IMAGESEARCH_NO_LOCATION", "").strip():
        kwargs["location"] = not _flag("IMAGESEARCH_NO_LOCATION", env["IMAGESEARCH_NO_LOCATION"])
    return DecodeLimits(**kwargs)
