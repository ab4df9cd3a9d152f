"""`search --queries FILE`: many text queries in one run, one JSON line of results per query.

A line is either plain text (a query) or a JSON object with `text` and any of the per-query options
below; what a line leaves out comes from the command line (`--k`, `--mode`, `--where`, ...). Blank
lines and lines starting with '#' are skipped. The whole file is checked before anything runs, so a
bad line costs nothing but its one-line error. All texts are encoded in one batched call (through
the query cache), then each query is searched.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.commands.common import UsageError, json_default
from store import LibraryError

OPTIONS = {"text": str, "mode": str, "k": int, "offset": int, "page": int, "sort": str, "where": str,
           "min_score": (int, float), "cutoff": bool}


def read_queries(path: str) -> list[tuple[int, dict]]:
    """(line number, options) for each query line; UsageError naming the line on the first bad one."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read --queries {path}: {error}") from None
    queries = []
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not stripped.startswith("{"):
            queries.append((number, {"text": stripped}))
            continue
        try:
            options = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise UsageError(f"{path} line {number}: not valid JSON ({error.msg})") from None
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise UsageError(f"{path} line {number}: unknown option(s) {', '.join(unknown)}; "
                             f"use {', '.join(OPTIONS)}")
        for key, value in options.items():
            kind = OPTIONS[key]
            if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                raise UsageError(f"{path} line {number}: {key} must be {getattr(kind, '__name__', 'a number')}")
        if not str(options.get("text") or "").strip():
            raise UsageError(f"{path} line {number}: a query needs a non-empty \"text\"")
        queries.append((number, options))
    if not queries:
        raise UsageError(f"--queries {path} holds no query")
    return queries


def build_requests(args: argparse.Namespace, queries: list[tuple[int, dict]], path: str) -> list:
    from pipeline.commands.search import page_offset
    from pipeline.compose import QueryTerm
    from pipeline.searching import SearchRequest

    requests = []
    for number, options in queries:
        k = options.get("k") or args.k
        if k < 1:
            raise UsageError(f"{path} line {number}: k must be at least 1")
        try:
            offset = page_offset(options.get("offset", args.offset), options.get("page", args.page), k)
        except UsageError as error:
            raise UsageError(f"{path} line {number}: {error}") from None
        cutoff = options.get("cutoff")
        requests.append(SearchRequest(
            terms=[QueryTerm("text", options["text"].strip())], mode=options.get("mode") or args.mode,
            k=k, offset=offset, where=options.get("where") or args.where,
            min_score=options.get("min_score", args.min_score), sort=options.get("sort") or args.sort,
            cutoff=(not args.no_cutoff) if cutoff is None else cutoff,
        ))
    return requests


def run_batch(args: argparse.Namespace, library) -> int:
    from pipeline.commands.search import run_requests
    from pipeline.searching import choose_mode

    if args.expression or args.text or args.image or args.like:
        raise UsageError("--queries takes its queries from the file: drop the other query terms")
    queries = read_queries(args.queries)
    requests = build_requests(args, queries, args.queries)
    try:
        modes = [choose_mode(library, r) for r in requests]
    except LibraryError as error:
        raise UsageError(str(error)) from None
    pages = run_requests(args, library, requests, needs_model=any(mode != "keyword" for mode in modes))
    for (number, options), request, page in zip(queries, requests, pages):
        record = {"line": number, "query": options["text"], "sort": request.sort, **page.to_dict()}
        record.pop("took_ms")  # one batch: per-query time is not measured apart
        sys.stdout.write(json.dumps(record, default=json_default) + "\n")
    return 0
