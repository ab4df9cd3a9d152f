"""`versions` and `restore`: the table's history in words, and making an old version current again."""

from __future__ import annotations

import argparse
import sys

from pipeline.commands.common import UsageError, open_library, print_json


def register(sub, common) -> None:
    p = sub.add_parser("versions", parents=[common], help="list the table's versions: what each did")
    p.add_argument("--all", action="store_true", help="include maintenance versions (compaction, index builds)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_versions)

    p = sub.add_parser("restore", parents=[common], help="make an old version current again (as a new version)")
    p.add_argument("version", type=int, help="the version number (see `versions`)")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(run=run_restore)


def run_versions(args: argparse.Namespace) -> int:
    from store.history import describe_versions

    library = open_library(args)
    versions = describe_versions(library)
    current = library.table.version
    shown = [v for v in versions if args.all or not v["maintenance"] or v["version"] == current]
    if args.json:
        print_json({"current": current, "versions": shown})
        return 0
    for v in shown:
        change = "".join(f" {sign}{n}" for sign, n in (("+", v["added"]), ("-", v["removed"])) if n)
        when = v["timestamp"].strftime("%Y-%m-%d %H:%M:%S") if v["timestamp"] else "?"
        mark = "  (current)" if v["version"] == current else ""
        print(f"{v['version']:>5}  {when}  {v['operation']:<12}{change:<14} {v['rows']} images{mark}")
    hidden = len(versions) - len(shown)
    if hidden:
        print(f"{hidden} maintenance version(s) hidden: --all shows them", file=sys.stderr)
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from store.history import restore_preview

    library = open_library(args)
    known = [v["version"] for v in library.versions()]
    if args.version not in known:
        raise UsageError(f"version {args.version} does not exist (have {min(known)}..{max(known)})")
    change = restore_preview(library, args.version)
    effect = f"removes {change['removed']} image(s) and brings back {change['added']}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(f"restoring version {args.version} {effect}: add --yes to confirm")
        if input(f"Restoring version {args.version} {effect}. Go on? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing restored")
            return 0
    library.restore(args.version)
    print(f"restored version {args.version} ({effect}); the library has {library.count()} images; "
          f"undo with `restore {known[-1]}`")
    return 0
