"""The content ids already in the library, as a compact set shipped to every decode worker.

Read once per job from the table's fingerprints: 8 bytes (a 64-bit prefix of the sha256) per known
row. Two different images share a prefix with probability ~n/2^64 per lookup.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


class KnownIds:
    def __init__(self, ids: Iterable[str] = ()):
        keys = np.fromiter((int(i[:16], 16) for i in ids if i), dtype=np.uint64)
        keys.sort()
        self.keys = keys

    def __len__(self) -> int:
        return int(self.keys.size)

    def __contains__(self, image_id: str) -> bool:
        if not image_id or self.keys.size == 0:
            return False
        key = np.uint64(int(image_id[:16], 16))
        at = int(np.searchsorted(self.keys, key))
        return at < self.keys.size and self.keys[at] == key

    def among(self, ids: Iterable[str]) -> set[str]:
        """The ids of `ids` that are known (the shape `stages.drop_known` asks for)."""
        return {i for i in ids if i in self}
