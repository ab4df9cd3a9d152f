"""Per-client token buckets: each request takes one token; tokens refill at `rate` per second up to
`burst`. An empty bucket answers 429 with Retry-After, the whole seconds until a token is back."""

from __future__ import annotations

import math
import threading
import time
from typing import Callable


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 100_000):
        self.rate, self.burst, self.clock = rate_per_s, burst, clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, last refill time)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str) -> float:
        """0.0 when the request may go ahead, else the seconds until it could."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._remember(client, (tokens - 1.0, now))
                return 0.0
            self._remember(client, (tokens, now))
            return (1.0 - tokens) / self.rate

    def _remember(self, client: str, state: tuple[float, float]) -> None:
        if client not in self._buckets and len(self._buckets) >= self.max_clients:
            self._buckets.clear()  # many distinct clients (addresses): forget them all rather than grow
        self._buckets[client] = state


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
