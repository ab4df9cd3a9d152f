"""`duplicates`: groups of near-identical images (exact copies are already one row)."""

from __future__ import annotations

import argparse
import sys

from pipeline.commands.common import UsageError, open_library, print_json


def register(sub, common) -> None:
    from pipeline.duplicates import DEFAULT_NEIGHBOURS

    p = sub.add_parser("duplicates", parents=[common], help="list groups of near-duplicate images")
    p.add_argument("--threshold", type=float, default=None,
                   help="cosine similarity at or above which two images are near-duplicates "
                        "(default: per model family, 0.95 for CLIP, 0.94 for SigLIP; see docs/models.md)")
    p.add_argument("--neighbours", type=int, default=DEFAULT_NEIGHBOURS,
                   help=f"nearest images checked per image on indexed tables (default {DEFAULT_NEIGHBOURS})")
    p.add_argument("--method", choices=["auto", "exact", "index"], default="auto",
                   help="auto: the vector index when the table has one, else exact blocks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_duplicates)


def run_duplicates(args: argparse.Namespace) -> int:
    from pipeline.duplicates import default_threshold, find_duplicate_groups

    library = open_library(args)
    if args.threshold is None:
        args.threshold = default_threshold(library)
    if not 0 < args.threshold <= 1:
        raise UsageError("--threshold must be in (0, 1]")
    if args.neighbours < 1:
        raise UsageError("--neighbours must be at least 1")
    groups = find_duplicate_groups(library, threshold=args.threshold,
                                   neighbours=args.neighbours, method=args.method)
    if args.json:
        print_json({"threshold": args.threshold, "groups": [g.to_dict() for g in groups],
                    "count": len(groups), "images": sum(len(g.ids) for g in groups)})
        return 0
    for number, group in enumerate(groups, 1):
        print(f"group {number}: {len(group.ids)} images, similarity {group.min_similarity:.4f}-{group.max_similarity:.4f}")
        for row in group.rows:
            size = f"{row.get('width')}x{row.get('height')}" if row.get("width") else "?"
            print(f"  {row['id'][:12]}  {size:>11}  {row.get('uri')}")
    print(f"{len(groups)} group(s) of near-duplicates at threshold {args.threshold}", file=sys.stderr)
    return 0
