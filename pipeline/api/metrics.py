"""Prometheus metrics: requests and latency per endpoint, query-encoding time, rows and index status.

Each app has its own registry, so several apps in one process (tests, Ray Serve replicas) never
collide. The request middleware is plain ASGI: it adds no task or copy per request.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ApiMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("imagesearch_http_requests", "HTTP requests by endpoint and status",
                                ["method", "endpoint", "status"], registry=self.registry)
        self.latency = Histogram("imagesearch_http_request_seconds", "HTTP request latency by endpoint",
                                 ["method", "endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.encode = Histogram("imagesearch_query_encode_seconds", "time to encode a query's text and image terms",
                                buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Gauge("imagesearch_rows", "rows in the image table", registry=self.registry)
        self.indexed = Gauge("imagesearch_vector_index", "1 when the table has a vector index (else exact search)",
                             registry=self.registry)
        self.model_loaded = Gauge("imagesearch_model_loaded", "1 when the model's weights are loaded",
                                  registry=self.registry)
        GCCollector(registry=self.registry)  # python_gc_collections_total per generation: full ones pause
        frozen = Gauge("imagesearch_gc_frozen_objects", "objects kept out of garbage collection since start-up",
                       registry=self.registry)
        frozen.set_function(gc.get_freeze_count)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def middleware(self, app):
        """ASGI middleware counting every HTTP request under its route template (/images/{image_id})."""
        metrics = self

        async def measured(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            started = time.perf_counter()
            status = {"code": 500}

            async def send_and_note(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_and_note)
            finally:
                route = scope.get("route")
                endpoint = getattr(route, "path", None) or "unmatched"  # never raw paths: unbounded labels
                metrics.latency.labels(scope["method"], endpoint).observe(time.perf_counter() - started)
                metrics.requests.labels(scope["method"], endpoint, str(status["code"])).inc()

        return measured
