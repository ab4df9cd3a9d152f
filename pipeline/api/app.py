"""`create_app(settings)`: the FastAPI app over one library and one encoder, for uvicorn or Ray Serve."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from pipeline.api.context import ApiContext
from pipeline.api.errors import install_error_handlers
from pipeline.api.limits import BodyLimit
from pipeline.api.routes import images, library, search
from pipeline.api.settings import ApiSettings

log = logging.getLogger("pipeline.api")
SMALL_BODY = 1024 * 1024  # JSON bodies (SQL, search without images)
BASE64_OVERHEAD = 4 / 3


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings.from_env()
    context = ApiContext(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if settings.load_model_at_start:
            await run_in_threadpool(context.load_model)
        _freeze_start_up_objects()
        yield

    app = FastAPI(
        title="imagesearch",
        summary="Semantic image search over a LanceDB table of CLIP vectors.",
        description="Errors are JSON `{\"error\": \"one line\"}`. With keys configured, send "
                    "`Authorization: Bearer KEY` (read scope for reading, write for uploads and deletes).",
        lifespan=lifespan,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (search, images, library):
        app.include_router(module.router)
    image_body = settings.query_image_bytes + 64 * 1024
    app.add_middleware(BodyLimit, default=SMALL_BODY, limits={
        "/upload": settings.max_upload_bytes,
        "/search-by-image": image_body,
        "/search": int(image_body * BASE64_OVERHEAD * 4) + SMALL_BODY,  # a few base64 image terms
    })
    if settings.cors_origins:  # off unless configured
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(_Measured, metrics=context.metrics)  # outermost: 413s and 429s are counted too
    return app


def _freeze_start_up_objects() -> None:
    """Take what start-up made (modules, the model, the library: ~530,000 objects with the tests'
    tiny model) out of the collector's sight (gc.freeze). A full collection over them held the
    interpreter ~350 ms on the 2-core VM, a pause every request in flight waits out; frozen, ~0 ms.
    Collected first, so no start-up garbage is kept for good."""
    gc.collect()
    gc.freeze()


class _Measured:
    def __init__(self, app, metrics):
        self._app = metrics.middleware(app)

    async def __call__(self, scope, receive, send):
        await self._app(scope, receive, send)
