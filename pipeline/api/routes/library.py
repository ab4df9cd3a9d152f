"""The library as a whole: /health, /stats, POST /query (read-only SQL) and /metrics."""

from __future__ import annotations

import os
import socket

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from pipeline.api.context import access, context_of, json_document
from store.errors import one_line

router = APIRouter(tags=["library"])
REPLICA = f"{socket.gethostname()}:{os.getpid()}"  # tells Ray Serve replicas (and restarts) apart


@router.get("/health")
def health(request: Request):
    """Liveness and readiness: table reachable (and its rows), model loaded. Needs no key."""
    context = context_of(request)
    table: dict = {"name": context.settings.table}
    try:
        table["exists"] = context.library.exists()
        table["rows"] = context.library.count() if table["exists"] else 0
    except Exception as error:  # noqa: BLE001 - health reports the reason instead of failing
        table.update(exists=False, rows=None, error=one_line(error))
    model = {"id": context.model_id, "loaded": context.model_loaded, "error": context.model_error}
    ok = "error" not in table and context.model_loaded
    return json_document({"status": "ok" if ok else "degraded", "table": table, "model": model,
                          "read_only": context.settings.read_only, "auth": context.keys.enabled,
                          "replica": REPLICA})


@router.get("/stats", dependencies=[access("read")])
def stats(request: Request):
    """The CLI's `stats --json` document."""
    return json_document(context_of(request).library.stats())


class QueryIn(BaseModel):
    sql: str = Field(..., description="one read-only SELECT over `images` (DuckDB SQL, no file access)")
    limit: int | None = Field(None, ge=1, description="rows to return, at most the server's cap")


@router.post("/query", dependencies=[access("read")])
def query(request: Request, body: QueryIn):
    """The CLI's `query SQL --json` document, capped in rows and time."""
    from store.sql import run_sql

    context = context_of(request)
    cap = context.settings.sql_row_cap
    limit = min(body.limit or cap, cap)
    rows = run_sql(context.library, body.sql, limit=limit, timeout_s=context.settings.sql_timeout_s).to_pylist()
    return json_document({"rows": rows, "count": len(rows), "limit": limit})


@router.get("/metrics", dependencies=[access("read")], response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def metrics(request: Request):
    """Prometheus text: requests and latency per endpoint, query-encoding time, rows, index status."""
    context = context_of(request)
    library, gauges = context.library, context.metrics
    try:
        exists = library.exists()
        gauges.rows.set(library.count() if exists else 0)
        gauges.indexed.set(1 if exists and library.search_plan() is not None else 0)
    except Exception:  # noqa: BLE001 - an unreachable table must not hide the request metrics
        pass
    gauges.model_loaded.set(1 if context.model_loaded else 0)
    return Response(gauges.render(), media_type=CONTENT_TYPE_LATEST)
