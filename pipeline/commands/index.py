"""`index PATH...`: add images from files, folders and globs to the library."""

from __future__ import annotations

import argparse
import sys

from pipeline.commands.common import UsageError, make_encoder, open_library, print_json


def register(sub, common) -> None:
    p = sub.add_parser("index", parents=[common], help="index image files, folders or globs")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True, help="walk folders recursively (default: yes)")
    p.add_argument("--batch-size", type=int, default=32, help="images per encoder batch (default 32)")
    p.add_argument("--description", default="", help="description stored with every image")
    p.add_argument("--tag", action="append", default=[], help="tag stored with every image (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(run=run_index)


def run_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.indexer import index_sources
    from pipeline.sources import SourceError, local_sources

    if args.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    library = open_library(args)
    encoder = make_encoder(args, library)
    try:
        sources = list(local_sources(args.paths, recursive=args.recursive))
    except SourceError as error:
        raise UsageError(str(error)) from None
    if args.description or args.tag:
        from dataclasses import replace
        sources = [replace(s, description=args.description, tags=tuple(args.tag)) for s in sources]
    with tqdm(total=len(sources), unit="img", desc="indexing", file=sys.stderr, disable=None) as bar:
        report = index_sources(library, encoder, sources, batch_size=args.batch_size, progress=bar.update)
    for failure in report.failures:
        print(f"failed: {failure.uri}: {failure.reason}", file=sys.stderr)
    if args.json:
        print_json(report.as_dict())
    print(report.summary(), file=sys.stderr if args.json else sys.stdout)
    nothing_worked = report.seen > 0 and report.indexed == 0 and report.skipped == 0
    return 1 if nothing_worked else 0
