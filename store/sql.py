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


def run_sql(
    library: "ImageLibrary",
    sql: str,
    limit: int | None = None,
    columns: list[str] | None = None,
    threads: int = 2,
    memory_limit: str = "2GB",
    timeout_s: float | None = None,
) -> pa.Table:
    """Run one read-only SELECT over the table, visible as `images` (and as the table's own name).

    `images` exposes the metadata columns (everything but `thumbnail` and `vector`) unless `columns`
    says otherwise; DuckDB pushes projections and filters down into the Lance scan. After
    `timeout_s` seconds the query is interrupted and SqlTimeoutError raised.
    """
    import threading

    import duckdb

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
        batches, rows = [], 0
        timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            reader = con.sql(statement).to_arrow_reader(batch_size=min(limit or 65536, 65536))
            for batch in reader:
                if limit is not None and rows + batch.num_rows >= limit:
                    batches.append(batch.slice(0, limit - rows))
                    break
                batches.append(batch)
                rows += batch.num_rows
        except duckdb.InterruptException:
            raise SqlTimeoutError(f"the query ran longer than {timeout_s:g} s and was stopped") from None
        except duckdb.Error as error:
            raise SqlError(f"query failed: {one_line(error)}") from None
        finally:
            if timer is not None:
                timer.cancel()
        return pa.Table.from_batches(batches, schema=reader.schema)
    finally:
        con.close()
