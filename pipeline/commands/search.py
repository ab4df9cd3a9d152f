"""`search --text ... | --image FILE`: nearest images by CLIP similarity, with filters."""

from __future__ import annotations

import argparse
import sys
import time

from pipeline.commands.common import UsageError, make_encoder, open_library, print_json
from store import TableNotFoundError


def register(sub, common) -> None:
    p = sub.add_parser("search", parents=[common], help="search by text or by image")
    p.add_argument("--text", help="text query")
    p.add_argument("--image", help="image file query")
    p.add_argument("--k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--where", help="SQL filter applied before the vector search, e.g. \"format = 'PNG'\"")
    p.add_argument("--min-score", type=float, default=None, help="drop results below this cosine similarity")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(run=run_search)


def run_search(args: argparse.Namespace) -> int:
    if bool(args.text) == bool(args.image):
        raise UsageError("give exactly one of --text or --image")
    if args.k < 1:
        raise UsageError("--k must be at least 1")
    library = open_library(args)
    if not library.exists():
        raise TableNotFoundError(f"table '{args.table}' does not exist in {library.db_uri}: index some images first (python -m pipeline index PATH)")
    encoder = make_encoder(args, library)
    library.check_model(encoder.model_id, encoder.dim)
    started = time.perf_counter()
    if args.text:
        vector = encoder.encode_texts([args.text])[0]
    else:
        from pipeline.images import DecodeLimits, read_image_file

        decoded = read_image_file(args.image, DecodeLimits.from_env())
        if not decoded.ok:
            raise UsageError(f"cannot use {args.image} as a query: {decoded.error}")
        vector = encoder.encode_images([decoded.image])[0]
    hits = library.search(vector, k=args.k, where=args.where, min_score=args.min_score)
    took_ms = (time.perf_counter() - started) * 1000
    if args.json:
        print_json({"query": {"text": args.text, "image": args.image, "k": args.k, "where": args.where},
                    "took_ms": round(took_ms, 2), "results": hits})
        return 0
    if not hits:
        print("no results")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>3}  {hit['score']:.4f}  {hit['uri']}")
    print(f"{len(hits)} results in {took_ms:.0f} ms", file=sys.stderr)
    return 0
