"""Near-duplicate images: groups of rows whose vectors are nearly identical (resized, recompressed,
lightly cropped copies). Exact copies are already one row, since the id is the content hash.

Never builds the n x n similarity matrix. Pairs above `threshold` are joined with union-find, so a
chain a~b~c is one group.
- tables the vector cache holds (store/vector_cache.py: within its memory budget), and tables on
  exact search, use blocked matrix products over the cached vectors: each block of rows against the
  rows after it, O(block x n) memory, exact, and no second copy of the vectors;
- larger indexed tables send each block as one multi-vector query through the ANN index, each row
  looking up its `neighbours` nearest rows: near-duplicates sit at cosine > 0.9, far inside the
  radius an IVF probe with refinement recovers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import numpy as np

from pipeline.errors import BadInputError

if TYPE_CHECKING:
    from store import ImageLibrary

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.95  # CLIP's; threshold=None takes the table's model family's (pipeline.presets.score_scale)
DEFAULT_NEIGHBOURS = 10


class UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class DuplicateGroup:
    ids: list[str]
    max_similarity: float
    min_similarity: float  # of the pairs that joined the group (a chain can be looser end to end)
    rows: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"size": len(self.ids), "max_similarity": round(self.max_similarity, 6),
                "min_similarity": round(self.min_similarity, 6), "images": self.rows or [{"id": i} for i in self.ids]}


SCORE_BLOCK_BYTES = 128 << 20  # the scores of one block of rows against the rest


def _vectors(library: "ImageLibrary", batch_rows: int = 65536) -> tuple[list[str], np.ndarray]:
    from store.search_paths import cached_snapshot

    snapshot = cached_snapshot(library)
    if snapshot is not None:  # the cache's copy: already in memory, normalised
        return snapshot.meta["id"].to_pylist(), snapshot.vectors
    dataset = library.table.to_lance()
    ids, blocks = [], []
    for batch in dataset.to_batches(columns=["id", "vector"], batch_size=batch_rows):
        ids.extend(batch.column("id").to_pylist())
        flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
        blocks.append(flat.reshape(batch.num_rows, -1).astype(np.float32, copy=False))
    dim = library.table.schema.field("vector").type.list_size
    return ids, (np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32))


def _exact_pairs(vectors: np.ndarray, threshold: float, block: int) -> Iterator[tuple[int, int, float]]:
    n = len(vectors)
    block = max(1, min(block, SCORE_BLOCK_BYTES // max(4 * n, 1)))
    for start in range(0, n, block):
        # Each pair once: this block against itself and the rows after it, (block, n - start) scores.
        scores = vectors[start:start + block] @ vectors[start:].T
        flat = np.flatnonzero(scores >= threshold)  # 1-D: several times faster than a 2-D nonzero
        rows, cols = np.divmod(flat, scores.shape[1])
        keep = cols > rows  # no self-pairs, no pair twice within the block
        for r, c in zip(rows[keep], cols[keep]):
            yield start + int(r), start + int(c), float(scores[r, c])


def _indexed_pairs(library: "ImageLibrary", ids: list[str], vectors: np.ndarray, threshold: float,
                   neighbours: int, block: int) -> Iterator[tuple[int, int, float]]:
    plan = library.search_plan()
    position = {image_id: i for i, image_id in enumerate(ids)}
    for start in range(0, len(vectors), block):
        query = library.table.search(vectors[start:start + block]).distance_type("cosine")
        query = query.limit(neighbours + 1).select(["id", "_distance"])
        if plan is not None:
            query = query.nprobes(plan.nprobes).refine_factor(plan.refine_factor)
        hits = query.to_arrow()
        scores = 1.0 - hits["_distance"].to_numpy()
        for q, image_id, score in zip(hits["query_index"].to_numpy(), hits["id"].to_pylist(), scores):
            i, j = start + int(q), position.get(image_id)
            if j is not None and j != i and score >= threshold:
                yield min(i, j), max(i, j), float(score)


def default_threshold(library: "ImageLibrary") -> float:
    from pipeline.presets import score_scale

    return score_scale(library.recorded_model()).duplicate_threshold


def find_duplicate_groups(
    library: "ImageLibrary",
    threshold: float | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
    block: int = 1024,
    method: str = "auto",
    with_rows: bool = True,
) -> list[DuplicateGroup]:
    """Groups of two or more images with cosine similarity >= threshold, largest groups first.

    method: "exact" (blocked matmul), "index" (batched ANN top-k), or "auto": exact when the vector
    cache holds the table or it has no index, else the index. threshold None: the default of the
    family that made the table's vectors (cosines of SigLIP and CLIP are spread differently).
    """
    if threshold is None:
        threshold = default_threshold(library)
    if not 0.0 < threshold <= 1.0:
        raise BadInputError(f"threshold must be in (0, 1], got {threshold}")
    if neighbours < 1:
        raise BadInputError("neighbours must be at least 1")
    if method == "auto":
        from store.search_paths import cached_snapshot

        method = "exact" if library.search_plan() is None or cached_snapshot(library) is not None else "index"
    ids, vectors = _vectors(library)
    log.debug("duplicates: %d rows, method %s", len(ids), method)
    if method == "exact":
        pairs = _exact_pairs(vectors, threshold, block)
    elif method == "index":
        pairs = _indexed_pairs(library, ids, vectors, threshold, neighbours, block)
    else:
        raise BadInputError(f"unknown method {method!r}: use auto, exact or index")
    union = UnionFind(len(ids))
    best: dict[int, float] = {}
    worst: dict[int, float] = {}
    for i, j, score in pairs:
        union.union(i, j)
        best[i] = max(best.get(i, -1.0), score)
        worst[i] = min(worst.get(i, 2.0), score)
    members: dict[int, list[int]] = {}
    for i in best:
        members.setdefault(union.find(i), [])
    for i in range(len(ids)):
        root = union.find(i)
        if root in members:
            members[root].append(i)
    groups = []
    for root, rows in members.items():
        scores = [s for i in rows for s in ([best[i]] if i in best else [])]
        lows = [worst[i] for i in rows if i in worst]
        groups.append(DuplicateGroup(ids=[ids[i] for i in rows], max_similarity=max(scores), min_similarity=min(lows)))
    if with_rows and groups:
        _attach_rows(library, groups)
    groups.sort(key=lambda g: (-len(g.ids), -g.max_similarity, g.ids[0]))
    return groups


def _attach_rows(library: "ImageLibrary", groups: list[DuplicateGroup]) -> None:
    """uri, size and resolution per member, largest image first (the one most worth keeping)."""
    wanted = [i for g in groups for i in g.ids]
    rows = {}
    for start in range(0, len(wanted), 500):
        for row in library.get_many(wanted[start:start + 500]):
            rows[row["id"]] = {k: row.get(k) for k in ("id", "uri", "width", "height", "format", "file_size")}
    for group in groups:
        group.rows = sorted((rows.get(i, {"id": i}) for i in group.ids),
                            key=lambda r: (-(r.get("width") or 0) * (r.get("height") or 0), -(r.get("file_size") or 0), r["id"]))
        group.ids = [r["id"] for r in group.rows]
