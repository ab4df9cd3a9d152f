"""A bounded LRU cache of text-query vectors, one per model, so a repeated query (the dashboard's
reruns, paging, "Load more", a batch file with repeats) does not run the text tower again.

`CachedTextEncoder` wraps an encoder: `encode_texts` answers from the cache and encodes only the
misses, in one batch; everything else passes through. The hit rate goes to the debug log (`-v`).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_SIZE = 1024  # 512-d float32: 2 KB a query, 2 MB when full


class TextVectorCache:
    """LRU: text -> vector for one model. Thread-safe (the dashboard's sessions share one)."""

    def __init__(self, maxsize: int = DEFAULT_SIZE):
        if maxsize < 1:
            raise ValueError("the cache needs room for at least one query")
        self.maxsize = maxsize
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def hit_rate(self) -> float:
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0

    def encode(self, encoder, texts: Sequence[str], count: bool = True) -> np.ndarray:
        """Vectors for `texts` in order; the misses are encoded together in one call. `count=False`
        for a second look-up of texts just fetched (composing a batch), so the hit rate stays honest."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                if text in self._items:
                    self._items.move_to_end(text)
                    found[text] = self._items[text]
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            for text, vector in zip(missing, encoder.encode_texts(missing)):
                found[text] = np.asarray(vector, dtype=np.float32)
        with self._lock:
            if count:
                misses = sum(1 for t in texts if t in missing)
                self.hits += len(texts) - misses
                self.misses += misses
            for text in missing:
                self._items[text] = found[text]
                self._items.move_to_end(text)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)
        if count:
            log.debug("text query cache: %d hits, %d misses so far (hit rate %.0f%%, %d/%d entries)",
                      self.hits, self.misses, 100 * self.hit_rate, len(self._items), self.maxsize)
        return np.stack([found[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)


_caches: dict[str, TextVectorCache] = {}
_caches_lock = threading.Lock()


def cache_for(model_id: str, maxsize: int = DEFAULT_SIZE) -> TextVectorCache:
    """The process's cache for one model: vectors of two models never mix."""
    with _caches_lock:
        return _caches.setdefault(model_id, TextVectorCache(maxsize))


class CachedTextEncoder:
    """An encoder whose `encode_texts` goes through the model's cache."""

    def __init__(self, encoder, cache: TextVectorCache | None = None, count: bool = True):
        self.encoder = encoder
        self.cache = cache if cache is not None else cache_for(encoder.model_id)
        self.count = count

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(self.encoder, list(texts), count=self.count)

    def uncounted(self) -> "CachedTextEncoder":
        return CachedTextEncoder(self.encoder, self.cache, count=False)

    def __getattr__(self, name):  # model_id, dim, encode_images...
        return getattr(self.encoder, name)
