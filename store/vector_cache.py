"""A hot copy of the table's current version in memory: the vectors (float32, L2-normalised) and the
metadata columns of every live row, so exact search is one matrix product per batch of queries.

LanceDB stays the only source of truth. A snapshot is keyed by the table version it was read at and
holds nothing else; when the version moves (this process or another writer committed) the next
search builds a new snapshot, re-reading only the fragments that changed: Lance fragments are
immutable apart from their deletion file, so an append reads just the new fragment and a delete
re-reads just the fragments it touched. Filters are answered by LanceDB at the snapshot's own
version (a scan of row ids that uses the scalar indexes), so a selection always names rows of the
snapshot. When the vectors would not fit the memory budget but the metadata would (a million rows:
2 GB of vectors, ~250 MB of metadata), the snapshot holds the metadata alone: search goes to LanceDB's
index for row ids and scores only, and the rows come from memory (selecting the 27 metadata columns
inside LanceDB's query cost ~15 ms of a 24 ms query at 1,000,000 rows). Over that, there is no snapshot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from store import scans
from store.errors import InvalidFilterError, one_line

log = logging.getLogger(__name__)

DEFAULT_BUDGET_MB = 1024
SELECTIONS_KEPT = 32  # filters remembered per snapshot: a user refining one search repeats its filter
_GUESS_META_BYTES = 256  # per row, before the first load measures it
# Up to this many rows the metadata is also kept as Python dicts: turning 10 Arrow rows into dicts
# costs ~0.4 ms (27 columns), more than the whole product over 10,000 rows; the dicts cost ~1.5 KB a row.
RECORD_ROWS = 25_000
_GUESS_RECORD_BYTES = 1536


def _fragment_key(fragment) -> tuple:
    """What identifies a fragment's live rows: its data files and its deletion file."""
    meta = fragment.metadata
    files = tuple(f.path for f in meta.files)
    deletion = meta.deletion_file
    deletion_key = None if deletion is None else (deletion.id, deletion.read_version, deletion.num_deleted_rows)
    return fragment.fragment_id, files, meta.physical_rows, deletion_key


@dataclass
class Snapshot:
    """The live rows of one table version. Immutable once built, so searches can share it."""

    version: int
    dataset: object  # lance dataset checked out at `version`: selections and thumbnails come from it
    vectors: np.ndarray | None  # (rows, dim) float32, L2-normalised, C order; None: metadata only
    meta: pa.Table  # the metadata columns, row i <-> vectors[i] <-> dataset offset i
    row_ids: np.ndarray  # Lance _rowid per row
    spans: dict  # fragment key -> (start, stop) in the arrays, for the next incremental load
    records: list | None = None  # meta as Python dicts, for small tables (see RECORD_ROWS)
    records_bytes: int = 0
    _sorted_ids: np.ndarray = field(default=None, repr=False)
    _order: np.ndarray | None = field(default=None, repr=False)
    _selections: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _subsets: dict = field(default_factory=dict, repr=False)  # where -> gathered vectors
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _float_scan: object = field(default=None, repr=False)
    _int8_scan: object = field(default=None, repr=False)
    _int8_builder: threading.Thread | None = field(default=None, repr=False)
    _list_columns: tuple = field(init=False, repr=False)  # the list-typed columns (tags): copied per result

    def __post_init__(self):
        self._list_columns = tuple(f.name for f in self.meta.schema
                                   if pa.types.is_list(f.type) or pa.types.is_large_list(f.type))
        if self.vectors is not None:
            self._float_scan = scans.FloatScan(self.vectors)
        if len(self.row_ids) and np.any(self.row_ids[1:] < self.row_ids[:-1]):
            self._order = np.argsort(self.row_ids, kind="stable")
            self._sorted_ids = self.row_ids[self._order]
        else:
            self._sorted_ids = self.row_ids

    @property
    def rows(self) -> int:
        return len(self.row_ids)

    def scan_now(self):
        """The fastest scan built so far (store/scans.py). Int8 codes take ~3 us a row to build (0.3 s
        for 100,000 rows), too long to make a search wait after every upload, so they are built in a
        background thread on first use and the float32 scan answers until they are ready."""
        if self._int8_scan is not None or self.vectors is None:
            return self._int8_scan
        if self._int8_builder is None and scans.uses_int8(self.rows):
            with self._lock:
                if self._int8_builder is None:
                    self._int8_builder = threading.Thread(target=self._build_int8, name="int8-scan", daemon=True)
                    self._int8_builder.start()
        return self._int8_scan or self._float_scan

    def wait_for_scan(self):
        """The fastest scan, waiting for a background build (benchmarks and tests measure the warm cache)."""
        self.scan_now()
        builder = self._int8_builder
        if builder is not None:
            builder.join()
        return self.scan_now()

    def _build_int8(self) -> None:
        started = time.perf_counter()
        scan = scans.build_int8(self.vectors)  # None where this torch cannot: the float32 scan answers, exactly
        if scan is not None:
            self._int8_scan = scan
            log.debug("int8 scan of %d rows built in %.0f ms", self.rows, (time.perf_counter() - started) * 1000)

    @property
    def nbytes(self) -> int:
        subsets = sum(b.nbytes for b in list(self._subsets.values()))
        vectors = self.vectors.nbytes if self.vectors is not None else 0
        return int(vectors + self.meta.nbytes + self.row_ids.nbytes + subsets
                   + (self._int8_scan.extra_bytes if self._int8_scan is not None else 0)
                   + self.records_bytes)

    def rows_at(self, positions: np.ndarray) -> list[dict]:
        """The metadata of these rows as fresh dicts (callers add to them and may change them)."""
        if self.records is None:
            return self.meta.take(positions).to_pylist()
        rows = [self.records[p].copy() for p in positions.tolist()]
        for column in self._list_columns:  # a list is the caller's too: changing it must not change the cache
            for row in rows:
                if row[column] is not None:
                    row[column] = row[column].copy()
        return rows

    def select(self, where: str) -> np.ndarray:
        """Positions (sorted) of the rows `where` selects, asked of LanceDB at this version."""
        with self._lock:
            found = self._selections.get(where)
            if found is not None:
                self._selections.move_to_end(where)
                return found
        try:
            ids = self.dataset.to_table(columns=[], filter=where, with_row_id=True)["_rowid"]
        except (ValueError, RuntimeError, OSError) as error:
            raise InvalidFilterError(f"invalid filter {where!r}: {one_line(error)}") from None
        positions = self.positions_of(ids.to_numpy())
        if positions is None:
            raise RuntimeError("a filter named rows outside the cached version")  # a bug, not bad input
        positions = np.sort(positions)
        with self._lock:
            self._selections[where] = positions
            while len(self._selections) > SELECTIONS_KEPT:
                dropped, _ = self._selections.popitem(last=False)
                self._subsets.pop(dropped, None)
        return positions

    def positions_of(self, row_ids: np.ndarray) -> np.ndarray | None:
        """The snapshot's positions of these Lance row ids, in their order; None if one is not in it."""
        wanted = np.asarray(row_ids).astype(self.row_ids.dtype, copy=False)
        at = np.searchsorted(self._sorted_ids, wanted)
        at = np.clip(at, 0, max(len(self._sorted_ids) - 1, 0))
        if len(wanted) and (not len(self._sorted_ids) or np.any(self._sorted_ids[at] != wanted)):
            return None
        return at if self._order is None else self._order[at]

    def subset(self, where: str, positions: np.ndarray) -> np.ndarray:
        """The selected rows' vectors as one contiguous block, kept beside the selection while the
        kept blocks stay under a quarter of the vectors' size: a repeated filter skips the gather."""
        with self._lock:
            kept = self._subsets.get(where)
            if kept is not None:
                return kept
        block = self.vectors[positions]
        with self._lock:
            if where in self._selections and sum(b.nbytes for b in self._subsets.values()) + block.nbytes \
                    <= self.vectors.nbytes // 4:
                self._subsets[where] = block
        return block

    def take_column(self, positions: np.ndarray, column: str) -> list:
        """A column the snapshot does not hold (thumbnail, the stored vector) for a few rows."""
        if not len(positions):
            return []
        return self.dataset.take(np.asarray(positions, dtype=np.int64), columns=[column])[column].to_pylist()


class VectorCache:
    """Builds and keeps the snapshot of the newest version seen, within `budget_bytes` (0: off)."""

    def __init__(self, budget_bytes: int, columns: list[str]):
        self.budget_bytes = max(0, int(budget_bytes))
        self.columns = list(columns)
        self._snapshot: Snapshot | None = None
        self._over_budget: tuple[int, int] | None = None  # (version, bytes needed) last refused vectors
        self._metadata_over_budget: int | None = None  # the version whose metadata alone did not fit
        self._meta_bytes_per_row = _GUESS_META_BYTES
        self._lock = threading.Lock()
        self.wanted = False  # a search asked for the cache: the next one may load it
        self.loads = 0  # full or incremental builds, for stats and tests
        self.last_reread = 0  # rows read from LanceDB by the last build (the rest were kept)

    @property
    def enabled(self) -> bool:
        return self.budget_bytes > 0

    def fits(self, rows: int, dim: int) -> bool:
        return self.enabled and self.estimate(rows, dim) <= self.budget_bytes

    def fits_metadata(self, rows: int) -> bool:
        """Whether a metadata-only snapshot of this many rows would fit (see the module's docstring)."""
        return self.enabled and self.estimate_metadata(rows) <= self.budget_bytes

    def estimate(self, rows: int, dim: int) -> int:
        return self.estimate_metadata(rows) + rows * dim * 4 + scans.int8_bytes(rows, dim)

    def estimate_metadata(self, rows: int) -> int:
        records = _GUESS_RECORD_BYTES * rows if _keeps_records(rows) else 0
        return rows * (8 + self._meta_bytes_per_row) + records

    def state(self) -> dict:
        snap = self._snapshot
        if not self.enabled:
            status = "off"
        elif snap is not None:
            status = "loaded" if snap.vectors is not None else "loaded (metadata only)"
        elif self._over_budget is not None:
            status = "over budget"
        else:
            status = "not loaded"
        scan = (snap._int8_scan or snap._float_scan) if snap is not None else None  # None: metadata only
        return {
            "state": status, "budget_bytes": self.budget_bytes,
            "bytes": snap.nbytes if snap is not None else 0,
            "rows": snap.rows if snap is not None else 0,
            "version": snap.version if snap is not None else None,
            "needed_bytes": self._over_budget[1] if self._over_budget and (snap is None or snap.vectors is None)
            else None,
            "loads": self.loads, "last_reread_rows": self.last_reread,
            "scan": scan.kind if scan is not None else None,
        }

    def current(self) -> Snapshot | None:
        return self._snapshot

    def snapshot(self, open_table, version: int, need_vectors: bool = True) -> Snapshot | None:
        """The snapshot of `version`, building it (from `open_table()`'s table) if needed; None when
        it would not fit the budget. With `need_vectors` False a metadata-only snapshot will do: it is
        what is built when the vectors would not fit."""
        snap = self._snapshot
        if _serves(snap, version, need_vectors):
            return snap
        if not self._may_build(version, need_vectors):
            return None
        with self._lock:
            snap = self._snapshot
            if _serves(snap, version, need_vectors):
                return snap
            dataset = open_table().to_lance()
            if dataset.version != version:  # a commit landed between the two reads: use the newer one
                version = dataset.version
                if _serves(snap, version, need_vectors):
                    return snap
            return self._build(dataset, version, snap, need_vectors)

    def _may_build(self, version: int, need_vectors: bool) -> bool:
        if not self.enabled:
            return False
        if not self._vectors_refused(version):
            return True
        return not need_vectors and self._metadata_over_budget != version

    def _vectors_refused(self, version: int) -> bool:
        """Whether this version's vectors were found not to fit (its metadata may still)."""
        return self._over_budget is not None and self._over_budget[0] == version

    def _build(self, dataset, version: int, previous: Snapshot | None, need_vectors: bool) -> Snapshot | None:
        started = time.perf_counter()
        dim = dataset.schema.field("vector").type.list_size
        rows = dataset.count_rows()
        with_vectors = self.fits(rows, dim) and not self._vectors_refused(version)
        if not with_vectors:
            needed = self._over_budget[1] if self._vectors_refused(version) else self.estimate(rows, dim)
            self._over_budget = (version, needed)
            if need_vectors or not self.fits_metadata(rows):
                return self._refuse(version, needed, metadata_too=not self.fits_metadata(rows))
        columns = [c for c in self.columns if c in dataset.schema.names]
        snap, reread = _read(dataset, version, previous, columns, dim, with_vectors, _keeps_records(rows))
        if snap.rows:
            self._meta_bytes_per_row = max(1, snap.meta.nbytes // snap.rows)
        needed = snap.nbytes + (scans.int8_bytes(snap.rows, dim) if with_vectors else 0)  # codes on first search
        if needed > self.budget_bytes:  # the estimate was low: the next search may settle for the metadata
            return self._refuse(version, needed, metadata_too=not with_vectors)
        self._snapshot = snap
        if with_vectors:
            self._over_budget = None
        self.loads += 1
        self.last_reread = reread
        log.debug("vector cache: version %d, %d rows (%d re-read)%s, %.1f MB in %.0f ms", version, snap.rows,
                  reread, "" if with_vectors else ", metadata only", snap.nbytes / 2**20,
                  (time.perf_counter() - started) * 1000)
        return snap

    def _refuse(self, version: int, needed: int, metadata_too: bool) -> None:
        self._snapshot, self._over_budget = None, (version, needed)
        if metadata_too:
            self._metadata_over_budget = version
        log.debug("vector cache: version %d needs %.1f MB, over the %.1f MB budget%s", version, needed / 2**20,
                  self.budget_bytes / 2**20, ": searching in LanceDB" if metadata_too else "")
        return None


class _Piece(NamedTuple):
    """One fragment's live rows, read from LanceDB or kept from the previous snapshot."""
    vectors: np.ndarray | None
    meta: pa.Table
    row_ids: np.ndarray
    records: list | None


def _read(dataset, version: int, previous: Snapshot | None, columns: list[str], dim: int,
          with_vectors: bool, with_records: bool) -> tuple[Snapshot, int]:
    """The snapshot of `dataset`, and how many rows were read: the fragments `previous` already
    holds (unchanged files and deletions) are kept, the others read."""
    reusable = previous is not None and (previous.vectors is not None or not with_vectors)
    old_spans = previous.spans if reusable else {}
    pieces, spans, start, reread = [], {}, 0, 0
    for fragment in dataset.get_fragments():
        key = _fragment_key(fragment)
        if key in old_spans:
            a, b = old_spans[key]
            piece = _Piece(previous.vectors[a:b] if with_vectors else None, previous.meta.slice(a, b - a),
                           previous.row_ids[a:b], previous.records[a:b] if previous.records is not None else None)
        else:
            data = fragment.to_table(columns=columns + (["vector"] if with_vectors else []), with_row_id=True)
            vectors = None
            if with_vectors:
                flat = data["vector"].combine_chunks().flatten().to_numpy(zero_copy_only=False)
                vectors = _normalised(flat.reshape(data.num_rows, dim))
            piece = _Piece(vectors, data.select(columns), data["_rowid"].to_numpy().astype(np.uint64), None)
            reread += data.num_rows
        if with_records and piece.records is None:
            piece = piece._replace(records=piece.meta.to_pylist())
        spans[key] = (start, start + len(piece.row_ids))
        start += len(piece.row_ids)
        pieces.append(piece)
    records = [r for p in pieces for r in p.records] if with_records else None
    vectors = np.zeros((0, dim), np.float32) if with_vectors else None
    if pieces:
        if with_vectors:
            vectors = np.ascontiguousarray(np.concatenate([p.vectors for p in pieces]))
        meta = pa.concat_tables([p.meta for p in pieces]).combine_chunks()
        row_ids = np.concatenate([p.row_ids for p in pieces])
    else:
        meta = dataset.schema.empty_table().select(columns)
        row_ids = np.zeros(0, np.uint64)
    snap = Snapshot(version, dataset, vectors, meta, row_ids, spans, records=records,
                    records_bytes=_python_bytes(records))
    return snap, reread


def _serves(snap: Snapshot | None, version: int, need_vectors: bool) -> bool:
    return snap is not None and snap.version == version and (snap.vectors is not None or not need_vectors)


def _keeps_records(rows: int) -> bool:
    return rows <= RECORD_ROWS


def _python_bytes(records: list[dict] | None, sample: int = 64) -> int:
    """Roughly what the dicts hold: containers and values of a sample, scaled to all rows."""
    if not records:
        return 0
    import sys

    picked = records[:: max(1, len(records) // sample)]
    per_row = sum(sys.getsizeof(r) + sum(sys.getsizeof(v) for v in r.values() if v is not None)
                  for r in picked) / len(picked)
    return int(per_row * len(records))


def _normalised(vectors: np.ndarray) -> np.ndarray:
    """Cosine scores as plain dot products. Rows written as Arrow tables may skip normalisation."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if len(norms) and np.all(np.abs(norms - 1.0) < 1e-6):
        return vectors
    return vectors / np.maximum(norms, 1e-12)
