"""`ImageLibrary`: the LanceDB table of images. It stores and queries vectors; it never computes them."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np
import pyarrow as pa

from store import search_paths
from store.errors import (
    InvalidFilterError, LibraryError, ModelMismatchError, ReadOnlyError,
    TableNotFoundError, is_rust_panic, one_line,
)
from store.commits import raise_if_unreachable, retry_on_conflict
from store.filters import check_filter_text, sql_string
from store.health import raise_if_corrupt
from store.redact import redact_uri
from store.schema import (
    METADATA_COLUMNS, PHOTO_COLUMNS, image_schema, rows_to_table, same_model, schema_identity, schema_model,
)
from store.vector_cache import DEFAULT_BUDGET_MB, VectorCache

DEFAULT_DB = "./data/lancedb"
DEFAULT_TABLE = "images"
SORTABLE_COLUMNS = ("indexed_at", "file_name", "file_size", "width", "height", "format", "uri", "id", "mtime", "taken_at")
MAX_K = search_paths.MAX_K
MAX_ROWS = 2**31 - 1  # a listing's row limit (LanceDB's limit is a signed 64-bit count)
DELETE_CHUNK = 10_000  # ids per delete commit when a filter's matches are deleted by id
VALID_FILTERS_KEPT = 64  # filters remembered as valid (a user refines one search, repeating its filter)

T = TypeVar("T")


@dataclass(frozen=True)
class AddResult:
    inserted: int
    skipped: int  # ids already in the table (or repeated within the batch)


def id_filter(ids: Iterable[str]) -> str:
    return "id IN (" + ", ".join(sql_string(i) for i in ids) + ")"


class ImageLibrary:
    """One LanceDB table of images: add, get, search, delete, page, stats, versions."""

    def __init__(
        self,
        db: str | None = None,
        table: str = DEFAULT_TABLE,
        *,
        storage_options: Mapping[str, str] | None = None,
        read_consistency_interval: timedelta | None = timedelta(seconds=1),
        read_only: bool = False,
        vector_cache_mb: float = DEFAULT_BUDGET_MB,
    ):
        # Plain values only: the store reads no environment (pipeline/settings.py does, at entry points).
        self.db_uri = db or DEFAULT_DB
        self.table_name = table
        self.storage_options = dict(storage_options or {})
        self._table = None
        self._lock = threading.Lock()
        self._table_uses = 0
        self._valid_filters: dict[tuple[int, str], bool] = {}  # (version, filter), oldest first
        self.read_consistency_interval = read_consistency_interval
        self.read_only = read_only  # shared deployments: every write is refused here, not only hidden
        # Vectors of the current version in memory, for exact search as one product (0: off).
        self.vector_cache = VectorCache(int(vector_cache_mb * 2**20), list(METADATA_COLUMNS))
        self.last_search_path: str | None = None
        # A local folder that does not exist yet is created by the first write, not by opening:
        # `stats --db /typo` must not leave a /typo folder behind.
        self._db = self._connect() if "://" in self.db_uri or os.path.isdir(self.db_uri) else None

    def _connect(self):
        import lancedb  # deferred: importing lancedb costs ~1 s

        # A non-zero interval lets a long-lived handle (the dashboard) see other writers' commits.
        try:
            return lancedb.connect(
                self.db_uri,
                read_consistency_interval=self.read_consistency_interval,
                storage_options=self.storage_options or None,
            )
        except (ValueError, OSError, RuntimeError) as error:
            raise_if_unreachable(self.db_uri, error)
            raise

    def __repr__(self) -> str:
        return f"ImageLibrary(db={self.shown_uri!r}, table={self.table_name!r})"

    @property
    def shown_uri(self) -> str:
        """The database URI fit to print: credentials inside it redacted."""
        return redact_uri(self.db_uri)

    # --- opening and creating ---------------------------------------------------------------

    def exists(self) -> bool:
        return self._open(missing_ok=True) is not None

    def _open(self, missing_ok: bool = False):
        with self._lock:
            if self._db is None and os.path.isdir(self.db_uri):  # created since (another process)
                self._db = self._connect()
            if self._table is None:
                try:
                    if self._db is None:
                        raise FileNotFoundError(f"{self.db_uri} does not exist")
                    self._table = self._db.open_table(self.table_name)
                except (ValueError, FileNotFoundError, OSError, RuntimeError) as error:
                    raise_if_unreachable(self.db_uri, error)
                    text = str(error).lower()
                    if "not found" not in text and "does not exist" not in text:
                        raise
                    if missing_ok:
                        return None
                    raise TableNotFoundError(
                        f"table '{self.table_name}' does not exist in {self.shown_uri}: "
                        "index some images first (python -m pipeline index PATH)"
                    ) from None
            return self._table

    @property
    def version(self) -> int:
        """The table's current version (what an undo or a restore refers to)."""
        return int(self._open().version)

    @property
    def columns(self) -> list[str]:
        return list(self._open().schema.names)

    @property
    def table(self):
        self._table_uses += 1  # any use may be a write: the next search asks LanceDB for the version
        return self._open()

    def ensure(self, model_id: str, dim: int, identity: Mapping[str, Any] | None = None) -> None:
        """Create the table for this model, or check that the existing one was made by it.
        `identity` (from the encoder) is recorded, so the same model under another path matches."""
        self._check_writable()
        table = self._open(missing_ok=True)
        if table is None:
            with self._lock:
                if self._db is None:
                    os.makedirs(self.db_uri, exist_ok=True)
                    self._db = self._connect()
                self._table = self._db.create_table(
                    self.table_name, schema=image_schema(dim, model_id, identity), exist_ok=True
                )
        self.check_model(model_id, dim, identity)
        from store.upgrade import add_missing_columns

        add_missing_columns(self)  # an older table gains the new (empty) columns on its first write

    def check_model(self, model_id: str, dim: int | None = None, identity: Mapping[str, Any] | None = None) -> None:
        table_model, table_dim = self.model_info()
        recorded = schema_identity(self.table.schema)
        if not same_model(table_model, recorded, model_id, identity) or (dim is not None and table_dim != dim):
            detail = " (same name, different weights)" if table_model == model_id else ""
            raise ModelMismatchError(
                f"table '{self.table_name}' holds vectors from model '{table_model}' (dim {table_dim}), "
                f"not '{model_id}'" + (f" (dim {dim})" if dim is not None else "") + detail
                + ": use --model " + str(table_model) + " or another --table"
            )

    def check_writable(self) -> None:
        """Every write path calls this first (here and in store/indexes.py), whoever calls it."""
        if self.read_only:
            raise ReadOnlyError(f"the library {self.shown_uri} is open read-only: writes are disabled")

    _check_writable = check_writable

    def recorded_model(self) -> str | None:
        """The model id the table was built with, or None when there is no table yet."""
        return self.model_info()[0] if self.exists() else None

    def model_info(self) -> tuple[str | None, int | None]:
        return schema_model(self.table.schema)

    # --- writing ------------------------------------------------------------------------------

    def add(self, rows: Sequence[Mapping[str, Any]] | pa.Table) -> AddResult:
        """Insert rows whose id is not in the table yet, in one commit. Adding twice is a no-op."""
        self._check_writable()
        table = self.table
        data = rows if isinstance(rows, pa.Table) else rows_to_table(rows, table.schema)
        if data.num_rows == 0:
            return AddResult(0, 0)
        unique = _first_of_each_id(data)
        result = retry_on_conflict(
            lambda: table.merge_insert("id").when_not_matched_insert_all().execute(unique)
        )
        inserted = int(result.num_inserted_rows)
        return AddResult(inserted=inserted, skipped=data.num_rows - inserted)

    def delete(self, ids: Iterable[str] | None = None, where: str | None = None) -> int:
        """Delete by ids and/or a filter; returns how many rows went."""
        return len(self.delete_returning_ids(ids, where))

    def delete_returning_ids(self, ids: Iterable[str] | None = None, where: str | None = None) -> list[str]:
        """Delete by ids and/or a filter; returns the ids of the rows that went.

        A filter is evaluated once, to pick ids, and the rows are then deleted by id: a filter such
        as `random() < 0.5` or `indexed_at > now() - ...` gives another answer each time it runs, so
        undo (`undelete(version, ids=...)`) must use these ids, never the filter again."""
        self._check_writable()
        given = list(dict.fromkeys(ids or []))
        if not given and not where:
            raise LibraryError("delete needs ids or a where filter")
        present = self.existing_ids(given) if given else set()
        gone = [i for i in given if i in present]
        if where:
            self.validate_filter(where)
            matched = self._guarded(lambda: self.table.to_lance().to_table(columns=["id"], filter=where))
            gone += [i for i in matched["id"].to_pylist() if i not in present]
        for start in range(0, len(gone), DELETE_CHUNK):
            chunk = id_filter(gone[start:start + DELETE_CHUNK])
            self._guarded(lambda: retry_on_conflict(lambda: self.table.delete(chunk)))
        return gone

    def update(self, ids: Iterable[str], description: str | None = None, add_tags: Iterable[str] = (),
               remove_tags: Iterable[str] = (), tags: Iterable[str] | None = None) -> int:
        """Edit description/tags of rows after indexing (one new version); returns rows changed."""
        from store.edits import update_rows

        return update_rows(self, list(ids), description=description, add_tags=add_tags,
                           remove_tags=remove_tags, tags=tags)

    def clear(self) -> int:
        self._check_writable()
        before = self.count()
        retry_on_conflict(lambda: self.table.delete("true"))
        return before

    def undelete(self, version: int, ids: Iterable[str] | None = None, where: str | None = None) -> int:
        """Bring back the rows that matched `ids`/`where` at `version` and are gone now; every other
        change since (another user's uploads, a running job) stays. Returns how many came back."""
        from store.history import undelete

        return undelete(self, version, ids, where)

    def restore(self, version: int) -> None:
        """Make `version` the latest again (a new version: undo that can itself be undone)."""
        from store.history import restore

        restore(self, version)

    def versions(self) -> list[dict]:
        """Every table version, oldest first, with its row count and time."""
        from store.history import version_rows

        return version_rows(self)

    # --- reading ------------------------------------------------------------------------------

    def count(self, where: str | None = None) -> int:
        if where:
            self.validate_filter(where)
        return int(self._guarded(lambda: self.table.count_rows(where) if where else self.table.count_rows()))

    def validate_filter(self, where: str) -> None:
        """Raise InvalidFilterError with a one-line reason unless `where` is a valid filter.
        Valid filters are remembered per table version: asking LanceDB costs ~4 ms, 20x a search."""
        check_filter_text(where)
        key = (search_paths.table_state(self).version, where)
        if key in self._valid_filters:
            return
        try:
            self.table.search().where(where).select(["id"]).limit(1).to_arrow()
        except BaseException as error:  # noqa: BLE001 - Rust panics are BaseExceptions
            if not isinstance(error, (ValueError, RuntimeError, OSError)) and not is_rust_panic(error):
                raise
            raise_if_corrupt(self, error)  # a damaged table is not a bad filter
            hint = ""
            if any(c in where and c not in self.table.schema.names for c in PHOTO_COLUMNS):
                hint = " (this table predates the photo columns: run python -m pipeline upgrade)"
            raise InvalidFilterError(f"invalid filter {where!r}: {one_line(error)}{hint}") from None
        self._valid_filters[key] = True
        if len(self._valid_filters) > VALID_FILTERS_KEPT:
            del self._valid_filters[next(iter(self._valid_filters))]

    def _guarded(self, operation: Callable[[], T]) -> T:
        """Run a read or write of the table's files: a damaged table becomes CorruptTableError."""
        try:
            return operation()
        except BaseException as error:  # noqa: BLE001 - Rust panics are BaseExceptions
            if isinstance(error, (ValueError, RuntimeError, OSError)) or is_rust_panic(error):
                raise_if_corrupt(self, error)
                if is_rust_panic(error):
                    raise LibraryError(f"LanceDB failed: {one_line(error)}") from None
            raise

    def get(self, image_id: str, with_thumbnail: bool = True, with_vector: bool = False) -> dict | None:
        found = self.get_many([image_id], with_thumbnail=with_thumbnail, with_vector=with_vector)
        return found[0] if found else None

    def get_many(self, ids: Sequence[str], with_thumbnail: bool = False, with_vector: bool = False) -> list[dict]:
        if not ids:
            return []
        columns = _columns(self.table.schema.names, with_thumbnail, with_vector)
        rows = self.table.search().where(id_filter(ids)).select(columns).limit(len(ids)).to_arrow()
        return rows.to_pylist()

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        found = self.table.search().where(id_filter(ids)).select(["id"]).limit(len(ids)).to_arrow()
        return set(found["id"].to_pylist())

    def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        where: str | None = None,
        min_score: float | None = None,
        with_thumbnail: bool = False,
        with_vector: bool = False,
        exclude_ids: Sequence[str] = (),
    ) -> list[dict]:
        """Nearest images by cosine similarity (`score`, higher is closer), filtered before search.
        The path (vector cache, LanceDB index or exact scan) is chosen per call: store/search_paths.py."""
        query = np.asarray(vector, dtype=np.float32)
        if query.ndim != 1:  # (1, dim) and the like: one vector whatever its shape
            query = query.reshape(1, -1)
        return self.search_many(query, k, where, min_score, with_thumbnail, with_vector, exclude_ids)[0]

    def search_many(
        self,
        vectors: np.ndarray | Sequence[np.ndarray],
        k: int = 10,
        where: str | None = None,
        min_score: float | None = None,
        with_thumbnail: bool = False,
        with_vector: bool = False,
        exclude_ids: Sequence[str] = (),
    ) -> list[list[dict]]:
        """`search` for a batch of query vectors at once (one matrix product on the cache path):
        one list of result dicts per query, in order, each as `search` returns it."""
        queries = search_paths.checked_queries(self, vectors, k)
        if where:
            self.validate_filter(where)
        return self._guarded(lambda: search_paths.search_many(self, self.vector_cache, queries, k, where, min_score,
                                                              with_thumbnail, with_vector, exclude_ids))

    def search_plan(self):
        """The vector index's search settings (probes, refine factor), or None on exact search.

        Cached per table version: looking the index up costs more than a small search.
        """
        return search_paths.plan_at(self, self.table.version)

    def _vector_query(self, query, k, predicate, columns: list[str], plan, with_row_id: bool = False) -> pa.Table:
        """A read: through `_open`, so the next search need not ask for the version again."""
        builder = self._open().search(query).distance_type("cosine").limit(k).select(columns + ["_distance"])
        if with_row_id:
            builder = builder.with_row_id(True)
        if plan is None:
            builder = builder.bypass_vector_index()
        else:
            builder = builder.nprobes(plan.nprobes).refine_factor(plan.refine_factor)
        if predicate:
            builder = builder.where(predicate, prefilter=True)
        return builder.to_arrow()

    def page(
        self,
        offset: int = 0,
        limit: int = 50,
        order_by: str = "indexed_at",
        descending: bool = True,
        where: str | None = None,
        with_thumbnail: bool = False,
    ) -> list[dict]:
        """One page of rows in a stable order (ties broken by id)."""
        from lancedb.query import ColumnOrdering

        if order_by not in SORTABLE_COLUMNS:
            raise LibraryError(f"cannot sort by {order_by!r}: choose one of {', '.join(SORTABLE_COLUMNS)}")
        builder = self.table.search().select(_columns(self.table.schema.names, with_thumbnail, False))
        if where:
            self.validate_filter(where)
            builder = builder.where(where)
        ordering = [ColumnOrdering(column_name=order_by, ascending=not descending)]
        if order_by != "id":
            ordering.append(ColumnOrdering(column_name="id", ascending=True))
        return self._guarded(lambda: builder.order_by(ordering).offset(offset).limit(limit).to_arrow().to_pylist())

    def query(self, where: str | None = None, select: Sequence[str] | None = None, limit: int | None = 100) -> pa.Table:
        """Read-only filtered projection (the CLI's `query --where/--select`)."""
        if limit is not None and not 1 <= limit <= MAX_ROWS:
            raise LibraryError(f"the row limit must be between 1 and {MAX_ROWS:,}")
        columns = list(select) if select else _columns(self.table.schema.names, False, False)
        unknown = [c for c in columns if c not in self.table.schema.names]
        if unknown:
            raise LibraryError(f"unknown column(s): {', '.join(unknown)}; have {', '.join(self.table.schema.names)}")
        builder = self.table.search().select(columns)
        if where:
            self.validate_filter(where)
            builder = builder.where(where)
        if limit is not None:
            builder = builder.limit(limit)
        else:
            builder = builder.limit(self.count() or 1)
        return self._guarded(builder.to_arrow)

    def fingerprints(self) -> dict[str, tuple[int | None, Any, str]]:
        """uri -> (file_size, mtime, id) of every row, so unchanged files can be skipped unread."""
        data = self._guarded(lambda: self.table.to_lance().to_table(columns=["uri", "file_size", "mtime", "id"]))
        return {
            uri: (size, mtime, row_id)
            for uri, size, mtime, row_id in zip(
                data["uri"].to_pylist(), data["file_size"].to_pylist(),
                data["mtime"].to_pylist(), data["id"].to_pylist(),
            )
        }

    def stats(self) -> dict:
        """Rows, bytes, formats, versions, size on disk, indexes, photo counts and the search path."""
        from store.library_stats import library_stats

        return library_stats(self)

    def disk_bytes(self) -> int:
        from store.library_stats import disk_bytes

        return disk_bytes(self)


def _columns(names, with_thumbnail: bool, with_vector: bool) -> list[str]:
    """The result columns this table has (`names`: its schema's; older tables lack the photo columns)."""
    names = set(names)
    columns = [c for c in METADATA_COLUMNS if c in names]
    if with_thumbnail:
        columns.append("thumbnail")
    if with_vector:
        columns.append("vector")
    return columns


def _first_of_each_id(data: pa.Table) -> pa.Table:
    ids = data["id"].to_pylist()
    if len(set(ids)) == len(ids):
        return data
    seen: set[str] = set()
    keep = [not (i in seen or seen.add(i)) for i in ids]
    return data.filter(pa.array(keep))
