"""`index SOURCE...`: add images from files, folders, globs, list files, s3:// and http(s):// URIs.

The job itself is a library function (pipeline/ingest/index.py); this module parses options, shows
progress and prints the report.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from pipeline.commands.common import UsageError, choose_model, open_library, print_json
from pipeline.ingest.index import AUTO_RAY_MIN_CPUS, AUTO_RAY_THRESHOLD


def register(sub, common) -> None:
    p = sub.add_parser("index", parents=[common], help="index image files, folders, globs, list files or URIs",
                       description="SOURCE is a file, folder (walked), glob, list file (.txt/.lst one uri a line; "
                                   ".csv/.parquet with a uri column and optional description, tags), "
                                   "s3://bucket/prefix or http(s):// URL.")
    p.add_argument("paths", nargs="+", metavar="SOURCE")
    p.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True, help="walk folders recursively (default: yes)")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="follow links that point outside the given folders (default: only links inside them)")
    p.add_argument("--batch-size", type=int, default=32, help="images per encoder batch in process (default 32)")
    p.add_argument("--description", default="", help="description stored with every image")
    p.add_argument("--tag", action="append", default=[], help="tag stored with every image (repeatable)")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument("--runner", choices=("auto", "ray", "local"), default="auto",
                   help=f"auto (default): a Ray Data job with --ray-address, or from {AUTO_RAY_THRESHOLD} new images on a "
                        f"machine with a GPU or at least {AUTO_RAY_MIN_CPUS} CPUs; else in process")
    p.add_argument("--ray-address", default=None, help="join this Ray cluster (env RAY_ADDRESS; default: start a local Ray)")
    p.add_argument("--update", action="store_true", help="re-index files whose size or mtime changed (default: leave them)")
    p.add_argument("--prune", action="store_true", help="remove rows under the given folders/prefixes whose files are gone")
    p.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16", "int8"),
                   help="encoder precision (default auto: fp16 on GPUs; on CPUs bf16 where the CPU has avx512_bf16/AMX, "
                        "else fp32; int8: CPU only, see docs/models.md)")
    p.add_argument("--encode-batch-size", type=int, default=None, help="images per encoder batch (default: 256 on GPU, 64 on CPU)")
    p.add_argument("--num-encoders", type=int, default=None, help="encoder actors (default: one per GPU, else one per 4 CPUs)")
    p.add_argument("--commit-every", type=int, default=None, help="rows per table commit in the Ray job (default 4096)")
    p.add_argument("--no-location", action="store_true",
                   help="do not store GPS coordinates or place names (env IMAGESEARCH_NO_LOCATION=1)")
    p.add_argument("--shared-db", action="store_true", help="the local --db path is on storage every cluster node mounts")
    p.set_defaults(run=run_index)


def _check(args: argparse.Namespace) -> None:
    for name in ("batch_size", "encode_batch_size", "num_encoders", "commit_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")


def run_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import IndexOptions, index
    from pipeline.ingest.write import COMMIT_EVERY

    _check(args)
    settings = args.settings.but(ray_address=args.ray_address)
    if args.no_location:
        settings = settings.but(limits=replace(settings.limits, location=False))
    library = open_library(args)
    encoder = ClipEncoder(choose_model(args, library), device=settings.device, dtype=args.dtype,
                          batch_size=args.encode_batch_size or args.batch_size)
    options = IndexOptions(
        recursive=args.recursive, update=args.update, prune=args.prune, description=args.description,
        tags=tuple(args.tag), runner=args.runner, batch_size=encoder.batch_size, dtype=args.dtype,
        encode_batch_size=args.encode_batch_size, num_encoders=args.num_encoders,
        commit_every=args.commit_every or COMMIT_EVERY, shared_db=args.shared_db,
        follow_symlinks=args.follow_symlinks)
    bar = None

    def on_plan(plan, runner):  # Ray Data draws its own per-stage bars
        nonlocal bar
        if runner == "local":
            bar = tqdm(total=len(plan.todo), unit="img", desc="indexing", file=sys.stderr, disable=None)

    try:
        report = index(library, encoder, args.paths, settings=settings, options=options,
                       progress=lambda n: bar.update(n) if bar else None, on_plan=on_plan)
    finally:
        if bar is not None:
            bar.close()
    _print_report(report, json_output=args.json)
    nothing_worked = report.seen > 0 and report.indexed == 0 and report.skipped == 0
    return 1 if nothing_worked else 0


def _print_report(report, json_output: bool) -> None:
    for failure in report.failures:
        print(f"failed: {failure.uri}: {failure.reason}", file=sys.stderr)
    if report.error_report:
        print(f"error report ({report.failed} items): {report.error_report}", file=sys.stderr)
    if report.stale:
        print(f"{report.stale} changed files left as they were: rerun with --update to re-index them", file=sys.stderr)
    if report.replaced or report.pruned:
        print(f"replaced {report.replaced} changed, pruned {report.pruned} gone", file=sys.stderr)
    if report.optimized:
        o = report.optimized
        print(f"optimized {o['rows']} rows: vector index {o['vector_index']}, fragments "
              f"{o['fragments_before']} -> {o['fragments_after']} ({o['seconds']:.1f} s)", file=sys.stderr)
    rates = report.stage_rates(report.stage_counts())
    if rates and report.runner == "ray":
        print("per worker busy time: " + ", ".join(f"{stage} {rate:.0f} img/s" for stage, rate in rates.items()),
              file=sys.stderr)
    if json_output:
        print_json(report.as_dict())
    print(report.summary(), file=sys.stderr if json_output else sys.stdout)
