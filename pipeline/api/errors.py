"""Every error leaves as JSON `{"error": "one line"}` with its status; never a traceback.

Library errors map to statuses by type, so routes just let them rise.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from store import (
    InvalidFilterError, LibraryError, ModelMismatchError, ReadOnlyError, StorageFullError, TableNotFoundError,
)
from store.errors import one_line

log = logging.getLogger("pipeline.api")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _status_of(error: Exception) -> int:
    from pipeline.encoder import ModelUnavailableError
    from pipeline.searching import UnknownImageError
    from store.sql import SqlTimeoutError

    for kind, status in ((ReadOnlyError, 403), (TableNotFoundError, 404), (UnknownImageError, 404), (SqlTimeoutError, 408),
                         (ModelMismatchError, 409), (StorageFullError, 507), (ModelUnavailableError, 503),
                         (InvalidFilterError, 400), (LibraryError, 400), (ValueError, 400)):
        if isinstance(error, kind):
            return status
    return 500


def _validation_message(error: RequestValidationError) -> str:
    first = (error.errors() or [{}])[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = first.get("msg", "invalid request")
    return one_line(f"{where}: {message}" if where else message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError):
        return error_response(error.status, error.message, error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError):
        return error_response(422, _validation_message(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException):
        return error_response(error.status_code, one_line(Exception(error.detail)), getattr(error, "headers", None))

    async def known_error(_request: Request, error: Exception):
        return error_response(_status_of(error), one_line(error))

    from pipeline.encoder import ModelUnavailableError

    # Registered by class (not only under Exception) so Starlette answers them without re-raising.
    for kind in (LibraryError, ValueError, ModelUnavailableError):
        app.add_exception_handler(kind, known_error)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception):
        if _status_of(error) != 500:
            return error_response(_status_of(error), one_line(error))
        # A bug: the server log gets the traceback, the client one line.
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, f"internal error ({type(error).__name__}); the server log has the details")
