"""`search`: nearest images to a composed query of weighted text, image and "more like this" terms.

    search --text "beach"                                   one text
    search --text "beach" --text "-people" --image a.jpg:0.5   weights after ':', '-' pushes away
    search "beach + sunset - people:0.5 + ./a.jpg"          rclip-style expression
    search --like 3f2a9c...                                 more like this image (itself excluded)
    search --text "lisbon" --mode keyword                   words in file name, description, tags
    search --text "harbour" --page 2 --sort indexed_at      the next 10 of the same ranked list
    search --queries queries.jsonl                          a batch: one query a line, JSON lines out
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from pipeline.commands.common import UsageError, make_encoder, open_library, print_json
from pipeline.commands.photo_filters import add_photo_arguments, photo_where
from pipeline.searching import resolve_id
from pipeline.formats import IMAGE_EXTENSIONS
from store import LibraryError, TableNotFoundError
from store.hybrid import MODES

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
    p.add_argument("--mode", choices=MODES, default=None,
                   help="semantic (vectors), keyword (full-text index over file name, description, tags) or "
                        "hybrid (both, fused by reciprocal rank); default: hybrid when the table has a "
                        "full-text index and the query has words, else semantic")
    p.add_argument("--k", type=int, default=10, help="number of results (a page; default 10)")
    p.add_argument("--offset", type=int, default=None, help="skip this many results of the ranked list")
    p.add_argument("--page", type=int, default=None, help="page N (from 1) of k results: --offset (N-1)*k")
    p.add_argument("--sort", default="score", help="order of the retrieved results: score (default), "
                   "indexed_at, file_name, or taken_at where the table has it")
    p.add_argument("--where", help="SQL filter applied before the search, on both sides, e.g. \"format = 'PNG'\"")
    p.add_argument("--min-score", type=float, default=None, help="drop results below this cosine similarity")
    p.add_argument("--no-cutoff", action="store_true",
                   help="keep the tail far below the best hit (default: a text query drops results more than "
                        "the model's gap below its best similarity)")
    p.add_argument("--queries", metavar="FILE", help="run a batch: one query a line, or JSON lines with "
                   "per-query options (text, mode, k, offset, page, sort, where, min_score, cutoff); "
                   "prints one JSON line per query")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    add_photo_arguments(p)
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
    terms += [("id", resolve_id(library, value, option="--like"), weight) for value, weight in map(split_term, args.like)]
    if not terms:
        raise UsageError("give a query: --text, --image, --like or an expression like \"beach - people\"")
    return terms


def page_offset(offset: int | None, page: int | None, k: int) -> int:
    if offset is not None and page is not None:
        raise UsageError("give --offset or --page, not both")
    if page is not None:
        if page < 1:
            raise UsageError("--page counts from 1")
        return (page - 1) * k
    if offset is not None and offset < 0:
        raise UsageError("--offset cannot be negative")
    return offset or 0


def load_encoder(args: argparse.Namespace, library):
    encoder = make_encoder(args, library)
    encoder.model  # noqa: B018 - load before any clock starts: "results in N ms" is the query alone
    library.check_model(encoder.model_id, encoder.dim, encoder.identity)
    return encoder


def run_requests(args: argparse.Namespace, library, requests: list, needs_model: bool, encoder=None) -> list:
    """Search pages for requests, loading the model only when a vector side needs it."""
    from pipeline.searching import search_many

    if needs_model and encoder is None:
        encoder = load_encoder(args, library)
    try:
        return search_many(library, encoder, requests)
    except LibraryError as error:
        raise UsageError(str(error)) from None


def run_search(args: argparse.Namespace) -> int:
    from pipeline.compose import QueryTerm
    from pipeline.searching import SearchRequest

    from store.library import MAX_K

    if not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K:,}")
    library = open_library(args)
    if not library.exists():
        raise TableNotFoundError(f"table '{library.table_name}' does not exist in {library.db_uri}: index some images first (python -m pipeline index PATH)")
    if args.queries:
        from pipeline.commands.batch_search import run_batch

        return run_batch(args, library)
    offset = page_offset(args.offset, args.page, args.k)
    terms = collect_terms(args, library)
    needs_model = args.mode != "keyword" and any(kind != "id" for kind, _, _ in terms)  # "more like this" needs none
    encoder = load_encoder(args, library) if needs_model else None
    started = time.perf_counter()
    query_terms = []
    for kind, value, weight in terms:
        if kind == "image":
            from pipeline.images import read_image_file

            decoded = read_image_file(value, args.settings.limits)
            if not decoded.ok:
                raise UsageError(f"cannot use {value} as a query: {decoded.error}")
            value = decoded.image
        query_terms.append(QueryTerm(kind, value, weight))
    exclude = [v for kind, v, _ in terms if kind == "id"]
    where = photo_where(args)
    request = SearchRequest(terms=query_terms, mode=args.mode, k=args.k, offset=offset, where=where,
                            min_score=args.min_score, cutoff=not args.no_cutoff, sort=args.sort,
                            exclude_ids=exclude)
    page = run_requests(args, library, [request], needs_model, encoder)[0]
    hits = page.results
    took_ms = (time.perf_counter() - started) * 1000
    if args.json:  # the same document as the HTTP API's (pipeline/searching.py search_document)
        from pipeline.searching import Term, search_document

        shown = {"text": args.text[0] if len(args.text) == 1 else args.text or None,
                 "image": args.image[0] if len(args.image) == 1 else args.image or None}
        print_json(search_document(page, [Term(kind, value, weight) for kind, value, weight in terms], k=args.k,
                                   where=where, offset=offset, sort=args.sort, took_ms=took_ms, shown=shown))
        return 0
    if not hits:
        print("no results")
    for rank, hit in enumerate(hits, offset + 1):
        print(f"{rank:>3}  {hit['score']:.4f}  {'+'.join(hit['found_by']):<16}  {hit['uri']}")
    more = f"; more with --page {offset // args.k + 2}" if page.has_more and offset % args.k == 0 else ""
    cut = f", {page.cut} far below the best dropped (--no-cutoff keeps them)" if page.cut else ""
    print(f"{len(hits)} {page.mode} results in {took_ms:.0f} ms{cut}{more}", file=sys.stderr)
    return 0
