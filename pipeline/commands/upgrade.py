"""`upgrade`: bring an older table to the current schema and fill its photo columns from the files."""

from __future__ import annotations

import argparse

from pipeline.commands.common import open_library, print_json
from store import ReadOnlyError


def register(sub, common) -> None:
    p = sub.add_parser("upgrade", parents=[common], help="add the current schema's columns to an older table "
                       "and fill photo metadata from the files (vectors untouched)")
    p.add_argument("--no-location", action="store_true", help="do not store GPS coordinates or place names")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(run=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from pipeline.upgrade import upgrade_library

    library = open_library(args)
    if library.read_only:
        raise ReadOnlyError(f"the library {library.db_uri} is open read-only: upgrade writes, so it is refused")
    limits = args.settings.limits
    if args.no_location:
        limits = replace(limits, location=False)
    report = upgrade_library(library, limits, s3_options=args.settings.storage.pyarrow_options())
    if args.json:
        print_json(asdict(report))
        return 0
    state = "upgraded to the current schema" if report.upgraded else "schema already current"
    print(f"{state}; {report.checked} rows without photo metadata checked, {report.filled} filled, "
          f"{report.unreadable} files unreadable ({report.seconds:.1f} s)")
    return 0
