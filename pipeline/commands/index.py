"""`index SOURCE...`: add images from files, folders, globs, list files, s3:// and http(s):// URIs.

Small jobs run in process; large ones (or any with --ray-address) run as a Ray Data job
(pipeline/job). Both runners share the listing, the plan (skip unchanged, --update, --prune),
decoding, encoding and row building, so they write the same rows.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline.commands.common import UsageError, choose_model, open_library, print_json

AUTO_RAY_THRESHOLD = 200  # below this many new images, Ray's startup costs more than it saves
# On a small CPU-only machine the in-process runner is faster than Ray Data (measured on 2 cores,
# bf16 ViT-B/32: ~51 img/s in process against 45 img/s for the Ray job on 10,000 images), since Ray's
# scheduler and object store take cores from the encoder. Ray pays off with GPUs, many cores or nodes.
AUTO_RAY_MIN_CPUS = 8


def register(sub, common) -> None:
    p = sub.add_parser("index", parents=[common], help="index image files, folders, globs, list files or URIs",
                       description="SOURCE is a file, folder (walked), glob, list file (.txt/.lst one uri a line; "
                                   ".csv/.parquet with a uri column and optional description, tags), "
                                   "s3://bucket/prefix or http(s):// URL.")
    p.add_argument("paths", nargs="+", metavar="SOURCE")
    p.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=True, help="walk folders recursively (default: yes)")
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
    p.add_argument("--shared-db", action="store_true", help="the local --db path is on storage every cluster node mounts")
    p.set_defaults(run=run_index)


def _check(args: argparse.Namespace) -> None:
    for name in ("batch_size", "encode_batch_size", "num_encoders", "commit_every"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")


def _delete_ids(library, ids: list[str]) -> int:
    removed = 0
    for start in range(0, len(ids), 1000):
        removed += library.delete(ids=ids[start:start + 1000])
    return removed


def _optimize_if_large(library) -> None:
    """Past the index threshold, fold the new rows into the vector index and compact the commits."""
    from store import optimize_if_large

    optimized = optimize_if_large(library)
    if optimized is not None:
        print(f"optimized {optimized.rows} rows: vector index {optimized.vector_index}, fragments "
              f"{optimized.fragments_before} -> {optimized.fragments_after} ({optimized.seconds:.1f} s)", file=sys.stderr)


def _use_ray(runner: str, address: str | None, new_images: int) -> bool:
    if runner != "auto":
        return runner == "ray"
    if address:
        return True
    if new_images < AUTO_RAY_THRESHOLD:
        return False
    import torch

    return torch.cuda.is_available() or (os.cpu_count() or 1) >= AUTO_RAY_MIN_CPUS


def run_index(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from pipeline.encoder import ClipEncoder
    from pipeline.filesystems import s3_options_from_env
    from pipeline.job.plan import plan_index
    from pipeline.report import write_failures
    from pipeline.sources import SourceError, list_sources

    _check(args)
    library = open_library(args)
    model = choose_model(args, library)
    encoder = ClipEncoder(model, device=args.device, dtype=args.dtype,
                          batch_size=args.encode_batch_size or args.batch_size)
    s3_options = s3_options_from_env()
    try:
        listing = list_sources(args.paths, recursive=args.recursive, s3_options=s3_options)
    except SourceError as error:
        raise UsageError(str(error)) from None
    if args.description or args.tag:
        listing.sources = [replace(s, description=args.description or s.description,
                                   tags=tuple(args.tag) or s.tags) for s in listing.sources]
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    plan = plan_index(listing, library.fingerprints(), update=args.update, prune=args.prune)
    if plan.replace_ids:
        _delete_ids(library, plan.replace_ids)
    address = args.ray_address or os.environ.get("RAY_ADDRESS")
    use_ray = _use_ray(args.runner, address, len(plan.todo))
    report = _run_ray(args, library, plan, model, s3_options, address) if use_ray else _run_local(args, library, encoder, plan, s3_options)
    report.replaced = len(plan.replace_ids)
    if plan.gone_ids:
        report.pruned = _delete_ids(library, plan.gone_ids)
    write_failures(report, library.db_uri, library.table_name)
    if report.indexed or report.pruned:
        _optimize_if_large(library)
    for failure in report.failures:
        print(f"failed: {failure.uri}: {failure.reason}", file=sys.stderr)
    if report.error_report:
        print(f"error report ({report.failed} items): {report.error_report}", file=sys.stderr)
    if plan.stale:
        print(f"{len(plan.stale)} changed files left as they were: rerun with --update to re-index them", file=sys.stderr)
    if report.replaced or report.pruned:
        print(f"replaced {report.replaced} changed, pruned {report.pruned} gone", file=sys.stderr)
    if args.json:
        print_json(report.as_dict())
    print(report.summary(), file=sys.stderr if args.json else sys.stdout)
    nothing_worked = report.seen > 0 and report.indexed == 0 and report.skipped == 0
    return 1 if nothing_worked else 0


def _run_local(args, library, encoder, plan, s3_options):
    from tqdm import tqdm

    from pipeline.indexer import index_sources

    with tqdm(total=len(plan.todo), unit="img", desc="indexing", file=sys.stderr, disable=None) as bar:
        report = index_sources(library, encoder, plan.todo, batch_size=encoder.batch_size, progress=bar.update,
                               s3_options=s3_options)
    report.seen = plan.seen
    report.skipped += plan.unchanged + plan.duplicates + len(plan.stale)
    report.stale = len(plan.stale)
    return report


def _run_ray(args, library, plan, model, s3_options, address):
    from pipeline.job import run as job

    options = job.JobOptions(model=model, device=args.device, dtype=args.dtype,
                             encode_batch_size=args.encode_batch_size, num_encoders=args.num_encoders,
                             commit_every=args.commit_every or job.COMMIT_EVERY, shared_db=args.shared_db,
                             s3_options=s3_options)
    started = job.connect(address, verbose=args.verbose)
    try:
        report = job.run_job(library, plan, options)
    except job.JobError as error:
        raise UsageError(str(error)) from None
    finally:
        if started:  # a Ray we only joined (cluster, notebook, test session) is left running
            import ray

            ray.shutdown()
    job.print_stage_summary(report, plan)
    return report
