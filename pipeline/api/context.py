"""What every request shares: settings, the library, the encoder (loaded once), keys, buckets, metrics;
and the access check each route declares (`Depends(access("read"))`)."""

from __future__ import annotations

import json
import logging
import threading

from fastapi import Depends, Request
from fastapi.responses import Response

from pipeline.api.errors import ApiError
from pipeline.api.keys import ApiKey, KeyRing, load_keys, presented_key
from pipeline.api.metrics import ApiMetrics
from pipeline.api.ratelimit import TokenBuckets, retry_after_header
from pipeline.api.settings import ApiSettings
from store import scans
from store.errors import one_line

log = logging.getLogger("pipeline.api")


class ApiContext:
    def __init__(self, settings: ApiSettings):
        self.settings = settings
        self.library = settings.library_settings().open_library()
        self.keys = KeyRing(load_keys(settings.keys, settings.keys_file))
        self.buckets = TokenBuckets(settings.rate_per_s, settings.burst)
        self.metrics = ApiMetrics()
        self.model_error: str | None = None
        self._encoder = None
        self._lock = threading.Lock()

    def media_dir(self) -> str | None:
        from pipeline.media import resolve_media_dir

        try:
            return resolve_media_dir(self.library.db_uri, self.settings.media)
        except ValueError:  # an object-store database without IMAGESEARCH_MEDIA: no media folder
            return None

    def encoder(self):
        """The loaded encoder, or ModelUnavailableError (the routes answer 503)."""
        from pipeline.encoder import ClipEncoder, ModelUnavailableError, resolve_model

        with self._lock:
            if self._encoder is None:
                table_model = self.library.recorded_model()
                self._encoder = ClipEncoder(resolve_model(self.settings.model, table_model), device=self.settings.device)
        try:
            self._encoder.model  # loads once; thread-safe
        except ModelUnavailableError as error:
            self.model_error = one_line(error)
            raise
        self.model_error = None
        return self._encoder

    @property
    def model_loaded(self) -> bool:
        return self._encoder is not None and self._encoder.is_loaded

    @property
    def model_id(self) -> str | None:
        return self._encoder.model_id if self._encoder is not None else self.settings.model

    def load_model(self) -> None:
        """At start: load now so the first search is fast; a missing model is logged, not fatal."""
        from pipeline.encoder import ModelUnavailableError

        try:
            self.encoder()
        except ModelUnavailableError as error:
            log.warning("model not loaded: %s (search by text or image answers 503)", one_line(error))
        scans.warm_up()  # the vector cache's int8 kernels: also the first searches' cost


def context_of(request: Request) -> ApiContext:
    return request.app.state.context


def access(scope: str):
    """A dependency: the caller's key must allow `scope`, writes need a writable server, and the
    caller's bucket must have a token. Checked in that order: 401, 403, 429."""

    async def check(request: Request) -> ApiKey | None:
        context = context_of(request)
        key = None
        if context.keys.enabled:
            presented = presented_key(request.headers)
            if presented is None:
                raise ApiError(401, "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                               {"WWW-Authenticate": "Bearer"})
            key = context.keys.find(presented)
            if key is None:
                raise ApiError(401, "unknown API key", {"WWW-Authenticate": "Bearer"})
            if not key.allows(scope):
                raise ApiError(403, f"this API key has scope '{key.scope}'; this endpoint needs '{scope}'")
        if scope == "write" and context.settings.read_only:
            raise ApiError(403, "the server is read-only: uploads, deletes and restores are disabled")
        client = key.name if key else (request.client.host if request.client else "unknown")
        wait = context.buckets.take(client)
        if wait:
            raise ApiError(429, f"rate limit exceeded: retry in {retry_after_header(wait)} s",
                           {"Retry-After": retry_after_header(wait)})
        return key

    return Depends(check)


def json_document(document, status: int = 200) -> Response:
    """JSON with the CLI's encoding (pipeline.commands.common.json_default), so shapes match by construction."""
    from pipeline.commands.common import json_default

    return Response(json.dumps(document, default=json_default), status_code=status, media_type="application/json")
