"""The API server's settings, read from the environment once (`ApiSettings.from_env`) and passed down.

The library's own settings (database, table, model, read-only, limits, credentials) come from the
shared `pipeline.settings.Settings`; this object adds what only the server has (keys, rate limits,
CORS, request sizes). It is a frozen dataclass so Ray Serve can ship it to every replica unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Mapping

from pipeline.errors import BadInputError
from pipeline.images import DecodeLimits
from pipeline.settings import Settings

_MB = 1024 * 1024


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadInputError(f"{name} must be a number, got {text!r}") from None
    if not value >= minimum:
        raise BadInputError(f"{name} must be at least {minimum:g}, got {text!r}")
    return value


def _list(text: str | None, separator: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(separator) if part.strip())


@dataclass(frozen=True)
class ApiSettings:
    db: str = "./data/lancedb"
    table: str = "images"
    model: str | None = None  # None: the table's model, else the default
    device: str = "auto"
    read_only: bool = False
    media: str | None = None  # None: pipeline.media's default beside the database
    # Folders whose files /images/{id}/original may serve, besides the media folder.
    roots: tuple[str, ...] = ()
    keys_file: str | None = None
    keys: str = ""  # "KEY:SCOPE,KEY:SCOPE"
    rate_per_s: float = 20.0  # tokens per second per key (per client address without keys); 0: off
    burst: float = 40.0  # bucket size
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 200 * _MB  # one whole /upload request
    max_files: int = 100  # files in one /upload
    sql_row_cap: int = 1000
    sql_timeout_s: float = 10.0
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    load_model_at_start: bool = True
    core: Settings = field(default_factory=Settings)  # the shared settings the above were taken from

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "ApiSettings":
        """Every setting from IMAGESEARCH_* variables; `overrides` (command-line options) win."""
        env = os.environ if environ is None else environ
        shared = {k: overrides.pop(k) for k in ("db", "table", "model", "device", "read_only", "media") if k in overrides}
        core = Settings.load(env, **shared)
        settings = cls(
            db=core.db, table=core.table, model=core.model, device=core.device, read_only=core.read_only,
            media=core.media, core=core,
            roots=tuple(os.path.abspath(os.path.expanduser(r)) for r in _list(env.get("IMAGESEARCH_API_ROOTS"), os.pathsep)),
            keys_file=env.get("IMAGESEARCH_API_KEYS_FILE") or None,
            keys=env.get("IMAGESEARCH_API_KEYS") or "",
            rate_per_s=_number(env, "IMAGESEARCH_API_RATE", cls.rate_per_s),
            burst=_number(env, "IMAGESEARCH_API_BURST", cls.burst, minimum=1),
            cors_origins=_list(env.get("IMAGESEARCH_API_CORS"), ","),
            max_upload_bytes=int(_number(env, "IMAGESEARCH_API_MAX_UPLOAD_MB", cls.max_upload_bytes / _MB, 0.001) * _MB),
            max_files=int(_number(env, "IMAGESEARCH_API_MAX_FILES", cls.max_files, minimum=1)),
            sql_row_cap=int(_number(env, "IMAGESEARCH_API_SQL_ROWS", cls.sql_row_cap, minimum=1)),
            sql_timeout_s=_number(env, "IMAGESEARCH_API_SQL_TIMEOUT", cls.sql_timeout_s, minimum=0.001),
            limits=core.limits,
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def library_settings(self) -> Settings:
        """The shared settings with this server's choices (a --read-only flag wins over the environment)."""
        return self.core.but(db=self.db, table=self.table, model=self.model, device=self.device,
                             read_only=self.read_only, media=self.media, limits=self.limits)

    @property
    def query_image_bytes(self) -> int:
        """The largest query image (/search-by-image, image terms): the same limit as decoding."""
        return self.limits.max_file_bytes
