"""`stats`, `delete` and `query`: look after the library without the model."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from pipeline.commands.common import UsageError, human_bytes, json_default, open_library, print_json
from store.library import id_filter


def register(sub, common) -> None:
    p = sub.add_parser("stats", parents=[common], help="library statistics")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_stats)

    p = sub.add_parser("delete", parents=[common], help="delete images by id or filter")
    p.add_argument("--id", dest="ids", nargs="+", default=[],
                   help="image ids (sha256), or unique prefixes of at least 6 characters")
    p.add_argument("--where", help="SQL filter selecting the rows to delete")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=run_delete)

    p = sub.add_parser("query", parents=[common], help="read-only SQL over the table, or a filtered listing")
    p.add_argument("sql", nargs="?", help="one read-only SELECT over the table, visible as `images`, e.g. "
                   "\"SELECT format, count(*) FROM images GROUP BY format\" (DuckDB SQL; no file access)")
    p.add_argument("--where", help="SQL filter (listing form, without a positional SQL)")
    p.add_argument("--select", help="comma-separated columns (default: all but thumbnail and vector)")
    p.add_argument("--limit", type=int, default=None, help="maximum rows (default 20 for the listing, 1000 for SQL)")
    p.add_argument("--timeout", type=float, default=None,
                   help="stop a SQL query after this many seconds (default 30); Ctrl+C stops it too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_query)


def run_stats(args: argparse.Namespace) -> int:
    stats = open_library(args).stats()
    if args.json:
        print_json(stats)
        return 0
    print(f"table      {stats['table']} in {stats['db']}")
    print(f"model      {stats['model']} (dim {stats['dim']})")
    print(f"rows       {stats['rows']}")
    print(f"originals  {human_bytes(stats['total_bytes'])}")
    print(f"on disk    {human_bytes(stats['disk_bytes'])}")
    print(f"version    {stats['version']} ({stats['versions']} versions)")
    formats = ", ".join(f"{name} {count}" for name, count in stats["formats"].items())
    print(f"formats    {formats or '-'}")
    print(f"indexes    {', '.join(stats['indices']) or 'none (exact search)'}")
    cameras = ", ".join(f"{c['camera']} {c['count']}" for c in stats["top_cameras"])
    print(f"photos     {stats['with_taken_at']} with a date taken, {stats['with_location']} with a location")
    print(f"cameras    {cameras or '-'}")
    cache = stats["vector_cache"]
    print(f"search     {stats['search_path']} (vector cache {cache['state']}, "
          f"{human_bytes(cache['bytes'])} of {human_bytes(cache['budget_bytes'])})")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    if not args.ids and not args.where:
        raise UsageError("give --id ID... or --where SQL")
    library = open_library(args)
    from pipeline.searching import resolve_id

    args.ids = [resolve_id(library, i, option="--id") for i in args.ids]  # a prefix matching 0 or 2+ is refused
    if not args.yes:
        clauses = ([id_filter(args.ids)] if args.ids else []) + ([f"({args.where})"] if args.where else [])
        where = " OR ".join(clauses)
        matching = library.count(where)
        if not sys.stdin.isatty():
            raise UsageError(f"this would delete {matching} image(s): add --yes to confirm")
        answer = input(f"Delete {matching} image(s) from '{library.table_name}'? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 0
    version = library.table.version
    deleted = library.delete(ids=args.ids, where=args.where)
    if deleted:
        print(f"deleted {deleted} image(s); undo with `python -m pipeline restore {version}` "
              "(or the dashboard's History tab)")
    else:
        print("deleted 0 images: nothing matched (no new version)")
    return 0


def run_query(args: argparse.Namespace) -> int:
    from store.sql import DEFAULT_TIMEOUT_S, result_rows, run_sql

    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.timeout is not None and not (0 < args.timeout < 10**9):
        raise UsageError("--timeout must be a positive number of seconds")
    if args.sql:
        if args.where or args.select:
            raise UsageError("give either a SQL query or --where/--select, not both")
        result = run_sql(open_library(args), args.sql, limit=args.limit or 1000,
                         timeout_s=args.timeout or DEFAULT_TIMEOUT_S)
    else:
        select = [c.strip() for c in args.select.split(",") if c.strip()] if args.select else None
        result = open_library(args).query(where=args.where, select=select, limit=args.limit or 20)
    rows = result_rows(result)
    if args.json:
        print_json({"rows": rows, "count": len(rows)})
        return 0
    for row in rows:
        print("  ".join(f"{k}={json_default(v) if isinstance(v, (datetime, bytes)) else v}" for k, v in row.items()))
    print(f"{len(rows)} row(s)", file=sys.stderr)
    return 0
