"""`search`: nearest images to a composed query of weighted text, image and "more like this" terms.

    search --text "beach"                                   one text
    search --text "beach" --text "-people" --image a.jpg:0.5   weights after ':', '-' pushes away
    search "beach + sunset - people:0.5 + ./a.jpg"          rclip-style expression
    search --like 3f2a9c...                                 more like this image (itself excluded)
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from pipeline.commands.common import UsageError, make_encoder, open_library, print_json
from pipeline.formats import IMAGE_EXTENSIONS
from store import TableNotFoundError

TERM_OPTIONS = ("--text", "--image", "--like")
_WEIGHT = re.compile(r"^(?P<value>.*?):(?P<weight>[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)$")
_OPERATOR = re.compile(r"\s+([+-])\s+")
IMAGE_SUFFIXES = tuple(sorted(IMAGE_EXTENSIONS))


def register(sub, common) -> None:
    p = sub.add_parser("search", parents=[common], help="search by text, image or 'more like this'",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("expression", nargs="?", help="rclip-style query: terms joined by ' + ' and ' - ' "
                   "(a term that names an image file is an image), each with an optional :weight")
    p.add_argument("--text", action="append", default=[], help="text term, repeatable; 'TEXT:0.5' weights it, "
                   "'-TEXT' pushes results away from it")
    p.add_argument("--image", action="append", default=[], help="image file term, repeatable, same syntax")
    p.add_argument("--like", action="append", default=[], metavar="ID",
                   help="more like this: an image id (or unique prefix) in the library, repeatable")
    p.add_argument("--k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--where", help="SQL filter applied before the vector search, e.g. \"format = 'PNG'\"")
    p.add_argument("--min-score", type=float, default=None, help="drop results below this cosine similarity")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(run=run_search)


def attach_dash_values(argv: list[str]) -> list[str]:
    """`--text -people` would read '-people' as an option: glue such values on as `--text=-people`."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in TERM_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] not in ("-h", "--help") \
                and not argv[i + 1].startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def split_term(raw: str, sign: float = 1.0) -> tuple[str, float]:
    """'-people:0.5' -> ('people', -0.5); 'beach' -> ('beach', 1.0); 'a photo: dusk' stays text."""
    value, weight = raw.strip(), 1.0
    match = _WEIGHT.match(value)
    if match and match.group("value").strip():
        value, weight = match.group("value").strip(), float(match.group("weight"))
    if value.startswith("-") and not os.path.exists(value):
        value, weight = value[1:].strip(), -weight
    if not value:
        raise UsageError(f"empty query term {raw!r}")
    if weight == 0:
        raise UsageError(f"query term {raw!r} has weight 0")
    return value, sign * weight


def parse_expression(expression: str) -> list[tuple[str, str, float]]:
    """'beach + sunset - people:0.5 + a.jpg' -> [(kind, value, weight)]; files are image terms."""
    parts = _OPERATOR.split(" " + expression.strip())
    terms, sign = [], 1.0
    for part in parts:
        if part in ("+", "-"):
            sign = 1.0 if part == "+" else -1.0
            continue
        if not part.strip():
            continue
        value, weight = split_term(part, sign)
        is_image = os.path.isfile(value) or value.lower().endswith(IMAGE_SUFFIXES)
        terms.append(("image" if is_image else "text", value, weight))
        sign = 1.0
    return terms


def collect_terms(args: argparse.Namespace, library) -> list[tuple[str, str, float]]:
    terms = parse_expression(args.expression) if args.expression else []
    terms += [("text", *split_term(t)) for t in args.text]
    terms += [("image", *split_term(i)) for i in args.image]
    terms += [("id", resolve_id(library, value), weight) for value, weight in map(split_term, args.like)]
    if not terms:
        raise UsageError("give a query: --text, --image, --like or an expression like \"beach - people\"")
    return terms


def resolve_id(library, prefix: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{6,64}", prefix):
        raise UsageError(f"--like takes an image id (hex, at least 6 characters), got {prefix!r}")
    found = library.query(where=f"starts_with(id, '{prefix.lower()}')", select=["id"], limit=2)["id"].to_pylist()
    if not found:
        raise UsageError(f"no image with id {prefix} in the library")
    if len(found) > 1:
        raise UsageError(f"id prefix {prefix} is ambiguous: give more characters")
    return found[0]


def run_search(args: argparse.Namespace) -> int:
    from pipeline.compose import QueryTerm, compose_query

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    library = open_library(args)
    if not library.exists():
        raise TableNotFoundError(f"table '{args.table}' does not exist in {library.db_uri}: index some images first (python -m pipeline index PATH)")
    terms = collect_terms(args, library)
    started = time.perf_counter()
    query_terms = []
    for kind, value, weight in terms:
        if kind == "image":
            from pipeline.images import DecodeLimits, read_image_file

            decoded = read_image_file(value, DecodeLimits.from_env())
            if not decoded.ok:
                raise UsageError(f"cannot use {value} as a query: {decoded.error}")
            value = decoded.image
        query_terms.append(QueryTerm(kind, value, weight))
    encoder = None
    if any(kind != "id" for kind, _, _ in terms):  # "more like this" alone needs no model
        encoder = make_encoder(args, library)
        library.check_model(encoder.model_id, encoder.dim, encoder.identity)
    vector = compose_query(encoder, query_terms, library)
    exclude = [v for kind, v, _ in terms if kind == "id"]
    hits = library.search(vector, k=args.k, where=args.where, min_score=args.min_score, exclude_ids=exclude)
    took_ms = (time.perf_counter() - started) * 1000
    if args.json:
        described = [{"kind": kind, "value": value, "weight": weight} for kind, value, weight in terms]
        print_json({"query": {"text": args.text[0] if len(args.text) == 1 else args.text or None,
                              "image": args.image[0] if len(args.image) == 1 else args.image or None,
                              "terms": described, "k": args.k, "where": args.where},
                    "took_ms": round(took_ms, 2), "results": hits})
        return 0
    if not hits:
        print("no results")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>3}  {hit['score']:.4f}  {hit['uri']}")
    print(f"{len(hits)} results in {took_ms:.0f} ms", file=sys.stderr)
    return 0
