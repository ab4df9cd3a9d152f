"""`optimize`: compact the table, prune old versions, build or refresh vector and scalar indexes."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from pipeline.commands.common import UsageError, human_bytes, open_library, print_json

MAX_RETENTION_DAYS = 36_500  # a century: timedelta overflows near 10^9 days


def register(sub, common) -> None:
    from store.indexes import DEFAULT_INDEX_TYPE, DEFAULT_RETENTION, INDEX_THRESHOLD, INDEX_TYPES

    p = sub.add_parser("optimize", parents=[common], help="compact, prune old versions, build/refresh indexes")
    p.add_argument("--retention-days", type=float, default=DEFAULT_RETENTION.days,
                   help=f"keep versions newer than this many days (default {DEFAULT_RETENTION.days}); "
                        "0 keeps only the latest (no other process may be using the table)")
    p.add_argument("--index-threshold", type=int, default=INDEX_THRESHOLD,
                   help=f"build a vector index from this many rows on (default {INDEX_THRESHOLD}); "
                        "smaller tables stay on exact search")
    p.add_argument("--index-type", choices=INDEX_TYPES, type=str.upper,
                   help=f"vector index type (default: keep the current one, else {DEFAULT_INDEX_TYPE})")
    p.add_argument("--rebuild", action="store_true", help="retrain the vector index and rebuild scalar indexes")
    p.add_argument("--status", action="store_true", help="only show the indexes and the search settings")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_optimize)


def run_optimize(args: argparse.Namespace) -> int:
    from store.indexes import index_status, optimize

    if not 0 <= args.retention_days <= MAX_RETENTION_DAYS:  # NaN fails too
        raise UsageError(f"--retention-days must be a number of days from 0 to {MAX_RETENTION_DAYS:,}")
    if args.index_threshold < 256:
        raise UsageError("--index-threshold must be at least 256 (an IVF index needs rows to train on)")
    library = open_library(args)
    if args.status:
        status = index_status(library)
        if args.json:
            print_json(status)
            return 0
        _print_status(status)
        return 0
    report = optimize(library, retention=timedelta(days=args.retention_days),
                      index_threshold=args.index_threshold, index_type=args.index_type, rebuild=args.rebuild)
    if args.json:
        print_json({**report.to_dict(), "status": index_status(library)})
        return 0
    print(f"rows          {report.rows}")
    print(f"fragments     {report.fragments_before} -> {report.fragments_after}")
    print(f"old versions  {report.removed_versions} removed ({human_bytes(report.bytes_removed)} freed)")
    plan = report.plan
    detail = f" ({plan['index_type']}, {plan['num_partitions']} partitions, nprobes {plan['nprobes']}, " \
             f"refine {plan['refine_factor']})" if plan else ""
    print(f"vector index  {report.vector_index}{detail}")
    print(f"scalar        {', '.join(report.scalar_indexes) or 'up to date'}")
    print(f"full text     {'built on ' + ', '.join(report.text_indexes) if report.text_indexes else 'up to date'}")
    print(f"took {report.seconds:.1f} s", file=sys.stderr)
    return 0


def _print_status(status: dict) -> None:
    print(f"rows    {status['rows']}")
    search = status["search"]
    print("search  " + (search if isinstance(search, str) else
                        f"{search['index_type']} nprobes {search['nprobes']} refine {search['refine_factor']}"))
    for index in status["indexes"]:
        print(f"  {index['name']:<16} {index['type']:<12} {','.join(index['columns']):<12} "
              f"indexed {index['indexed_rows']}, not yet {index['unindexed_rows']}")
