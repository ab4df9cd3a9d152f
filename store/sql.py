"""Read-only SQL over the image table with DuckDB, scanning the Lance dataset through Arrow.

Three locks, each enough on its own for the common cases, together for the rest:
1. the text must be exactly one statement and DuckDB's own parser must call it a SELECT (WITH ...
   SELECT included): INSERT, UPDATE, DELETE, CREATE, COPY, ATTACH, INSTALL, LOAD, PRAGMA, SET are refused;
2. `enable_external_access = false`: no file, URL or extension access (read_csv('/etc/passwd'));
3. `lock_configuration = true`: the query cannot turn either back on.
The connection is in-memory and private to the call, so even a write that slipped through would touch
nothing but a throwaway catalog; the Lance table itself is only ever read through a scanner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from store.errors import LibraryError, one_line
from store.schema import METADATA_COLUMNS

if TYPE_CHECKING:
    from store.library import ImageLibrary


class SqlError(LibraryError):
    """A query that does not parse, is not a single SELECT, or fails: one line, fit to show as is."""


class SqlTimeoutError(SqlError):
    """A query stopped because it ran longer than its time limit."""


def check_read_only(sql: str, connection=None) -> str:
    """The single SELECT statement in `sql`, or SqlError saying why it is refused."""
    import duckdb

    con = connection or duckdb.connect()
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise SqlError(f"SQL syntax error: {one_line(error)}") from None
    if len(statements) != 1:
        raise SqlError(f"give exactly one SELECT statement (got {len(statements)})")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name.replace("_STATEMENT", "")
        raise SqlError(f"only read-only SELECT queries are allowed, not {kind}")
    return statement.query


DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ROWS = 10_000
MAX_RESULT_BYTES = 256 * 1024 * 1024  # Arrow bytes of one result: above it, say so instead of dying


def run_sql(
    library: "ImageLibrary",
    sql: str,
    limit: int | None = None,
    columns: list[str] | None = None,
    threads: int = 2,
    memory_limit: str = "2GB",
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    max_bytes: int = MAX_RESULT_BYTES,
) -> pa.Table:
    """Run one read-only SELECT over the table, visible as `images` (and as the table's own name).

    `images` exposes the metadata columns (everything but `thumbnail` and `vector`) unless `columns`
    says otherwise; DuckDB pushes projections and filters down into the Lance scan. At most `limit`
    rows (DEFAULT_MAX_ROWS when None) and `max_bytes` of Arrow data come back; a query still running
    after `timeout_s` seconds, or interrupted with Ctrl+C, is stopped with `interrupt()`.
    """
    import threading

    import duckdb

    limit = DEFAULT_MAX_ROWS if limit is None else limit
    if limit < 1:
        raise SqlError("the row limit must be at least 1")
    if timeout_s is not None and not timeout_s > 0:
        raise SqlError("the time limit must be a positive number of seconds")
    con = duckdb.connect(config={"enable_external_access": False, "threads": threads,
                                 "memory_limit": memory_limit})
    try:
        statement = check_read_only(sql, con)
        dataset = library.table.to_lance()
        exposed = [c for c in (columns or METADATA_COLUMNS) if c in dataset.schema.names]
        con.register("__lance_images", dataset)
        projection = ", ".join(f'"{c}"' for c in exposed)
        names = {"images", library.table_name}
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            con.execute(f"CREATE TEMP VIEW {quoted} AS SELECT {projection} FROM __lance_images")
        con.execute("SET lock_configuration = true")
        return _fetch_with_deadline(library, con, statement, limit, timeout_s, max_bytes)
    finally:
        con.close()


def _fetch_with_deadline(library, con, statement: str, limit: int, timeout_s: float | None,
                         max_bytes: int) -> pa.Table:
    """Fetch on a worker thread; this thread waits in Python, so Ctrl+C (KeyboardInterrupt) and the
    deadline both reach it, and `con.interrupt()` makes DuckDB stop at its next check."""
    import threading
    import time

    outcome: dict = {}
    # An Event, not Thread.join: a join interrupted by Ctrl+C can leave the thread looking dead
    # while it still runs (CPython gh-90882), and the connection cannot close under a running call.
    done = threading.Event()

    def fetch() -> None:
        try:
            outcome["table"] = _fetch(con, statement, limit, max_bytes)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            outcome["error"] = error
        finally:
            done.set()

    worker = threading.Thread(target=fetch, name="sql-query", daemon=True)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        _start_holding_ctrl_c(worker)
        while not done.wait(0.05):
            if deadline is not None and time.monotonic() > deadline:
                _stop(con, done, worker)
                raise SqlTimeoutError(f"query stopped: still running after the {timeout_s:g} s time limit "
                               "(raise it with --timeout)")
    except KeyboardInterrupt:
        _stop(con, done, worker)
        raise
    error = outcome.get("error")
    if error is not None:
        if isinstance(error, SqlError):
            raise error
        from store.health import raise_if_corrupt

        raise_if_corrupt(library, error)
        raise SqlError(f"query failed: {one_line(error)}") from None
    return outcome["table"]


def _start_holding_ctrl_c(worker) -> None:
    """Start the query's thread with SIGINT held back until it runs: a Ctrl+C landing inside
    Thread.start raised before the query could be stopped, and closing the connection then waited
    for the whole query. Held back, it arrives just after, where it stops the query."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        worker.start()
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        worker.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _stop(con, done, worker) -> None:
    """Interrupt until the worker is out of DuckDB: an interrupt between two calls (planning, then
    executing) is lost, and the connection cannot close while a call runs. A worker that never
    started (Ctrl+C before its start) has nothing to stop."""
    while not done.is_set() and worker.is_alive():
        con.interrupt()
        done.wait(0.1)


def _fetch(con, statement: str, limit: int, max_bytes: int) -> pa.Table:
    batches, rows, size = [], 0, 0
    reader = con.sql(statement).to_arrow_reader(batch_size=min(limit, 65536))
    for batch in reader:
        size += batch.nbytes
        if size > max_bytes:
            raise SqlError(f"the result is larger than {max_bytes // (1024 * 1024)} MB: "
                           "select fewer columns or rows (LIMIT)")
        if rows + batch.num_rows >= limit:
            batches.append(batch.slice(0, limit - rows))
            break
        batches.append(batch)
        rows += batch.num_rows
    return pa.Table.from_batches(batches, schema=reader.schema)


def result_rows(table: pa.Table) -> list[dict]:
    """Rows as Python values; a date or time Python cannot hold (DuckDB's 'infinity', year 300000)
    becomes text instead of an OverflowError."""
    try:
        return table.to_pylist()
    except (OverflowError, ValueError):
        pass
    columns = {}
    for name, column in zip(table.schema.names, table.columns):
        try:
            columns[name] = column.to_pylist()
        except (OverflowError, ValueError):
            columns[name] = [_temporal_text(value) for value in column]
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


_INT64_MAX, _INT32_MAX = 2**63 - 1, 2**31 - 1


def _temporal_text(scalar: pa.Scalar):
    try:
        return scalar.as_py()
    except (OverflowError, ValueError):
        width = pa.int32() if scalar.type.bit_width == 32 else pa.int64()
        raw = pa.array([scalar], scalar.type).view(width)[0].as_py()
        if raw in (_INT64_MAX, _INT32_MAX):
            return "infinity"
        if raw in (-_INT64_MAX, -_INT32_MAX, -_INT64_MAX - 1, -_INT32_MAX - 1):
            return "-infinity"
        return f"out of range ({scalar.type}: {raw})"
