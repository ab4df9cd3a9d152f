"""Request body limits, enforced while the body streams in: a declared Content-Length over the limit
is refused before a byte is read, and a chunked body is cut off as soon as it passes the limit
(before the multipart parser spools the rest to disk)."""

from __future__ import annotations

from fastapi import HTTPException

from pipeline.api.errors import error_response


class BodyTooLarge(HTTPException):
    # An HTTPException, so FastAPI's body parsing passes it through instead of making it a 400.
    def __init__(self, limit: int):
        super().__init__(413, f"the request body is larger than this endpoint's limit of {human_size(limit)}")


def human_size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


class BodyLimit:
    """ASGI middleware: `limits` maps a path to its largest body; other paths get `default`."""

    def __init__(self, app, limits: dict[str, int], default: int):
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await error_response(413, BodyTooLarge(limit).detail)(scope, receive, send)
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)
