"""`index(...)`: the indexing job as a library function, called by the CLI, `demo` and Python code.

    list sources -> plan against the table (read once) -> replace changed rows (--update)
    -> run the stages (in process, or as a Ray Data job) -> prune gone files -> failure report
    -> fold new rows into the indexes when the table is large
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from pipeline.ingest.item import Item
from pipeline.ingest.known import KnownIds
from pipeline.ingest.local import run_local
from pipeline.ingest.plan import Plan, plan_index
from pipeline.ingest.report import IndexReport, write_failures
from pipeline.ingest.write import COMMIT_EVERY, RowWriter
from pipeline.settings import Settings
from pipeline.sources import list_sources
from store import ImageLibrary

log = logging.getLogger(__name__)

AUTO_RAY_THRESHOLD = 200  # below this many new images, Ray's startup costs more than it saves
# On a small CPU-only machine the in-process runner is faster than Ray Data (measured on 2 cores,
# bf16 ViT-B/32: ~51 img/s in process against 45 img/s for the Ray job on 10,000 images), since Ray's
# scheduler and object store take cores from the encoder. Ray pays off with GPUs, many cores or nodes.
AUTO_RAY_MIN_CPUS = 8
DELETE_CHUNK = 1000  # ids per delete: one filter expression of bounded size


@dataclass(frozen=True)
class IndexOptions:
    recursive: bool = True
    follow_symlinks: bool = False  # follow links out of the given folders (links inside them are always followed)
    update: bool = False  # re-index files whose size or mtime changed
    prune: bool = False  # remove rows under the walked folders whose files are gone
    description: str = ""  # stored with every image (else the list file's, if any)
    tags: tuple[str, ...] = ()
    runner: str = "auto"  # auto, local or ray
    batch_size: int = 32  # images per encoder batch in process
    decode_threads: int = 2
    dtype: str = "auto"  # for the Ray job's encoders (the in-process encoder is the caller's)
    encode_batch_size: int | None = None
    num_encoders: int | None = None
    commit_every: int = COMMIT_EVERY
    shared_db: bool = False
    optimize: bool = True  # past the index threshold, fold new rows into the vector index
    error_report: bool = True  # write <db>/<table>.errors/<time>.jsonl when something failed
    on_commit: Callable[[int, int], None] | None = None  # (commits, rows indexed) after each commit
    crash: object | None = None  # the Ray job's fault injection for crash tests (job.encode.CrashOnBatch)


def choose_runner(runner: str, address: str | None, new_images: int) -> str:
    """'ray' or 'local': Ray with a cluster address, a GPU or many cores, for jobs worth its start-up."""
    if runner != "auto":
        return runner
    if address:
        return "ray"
    if new_images < AUTO_RAY_THRESHOLD:
        return "local"
    import torch

    many = torch.cuda.is_available() or (os.cpu_count() or 1) >= AUTO_RAY_MIN_CPUS
    return "ray" if many else "local"


def index(
    library: ImageLibrary,
    encoder,
    sources: Sequence[str],
    *,
    settings: Settings | None = None,
    options: IndexOptions | None = None,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[Plan, str], None] | None = None,
) -> IndexReport:
    """Index files, folders, globs, list files, s3:// and http(s):// URIs into `library`.

    Counts always add up (seen = indexed + skipped + failed); bad files are reported, never fatal.
    `on_plan(plan, runner)` is called once the work is known (the CLI sizes its progress bar there)."""
    settings = settings or Settings()
    options = options or IndexOptions()
    started = time.perf_counter()
    s3_options = settings.storage.pyarrow_options()
    listing = list_sources(sources, recursive=options.recursive, s3_options=s3_options,
                           follow_symlinks=options.follow_symlinks)
    if options.description or options.tags:
        listing.sources = [replace(s, description=options.description or s.description,
                                   tags=tuple(options.tags) or s.tags) for s in listing.sources]
    library.ensure(encoder.model_id, encoder.dim, encoder.identity)
    # Fingerprints after the listing: a file that arrived meanwhile is in the table, not pruned.
    plan = plan_index(listing, library.fingerprints(), update=options.update, prune=options.prune)
    report = IndexReport(seen=plan.seen, skipped=plan.unchanged + plan.duplicates + len(plan.stale),
                         stale=len(plan.stale))
    for bad in listing.failures:  # list-file lines that failed, one each
        report.seen += 1
        report.fail(bad.where, "list", bad.reason)
    if plan.replace_ids:
        _delete_ids(library, plan.replace_ids)
    report.replaced = len(plan.replace_ids)
    if plan.gone_ids:  # before the job: a surviving copy of the same content then indexes under its name
        report.pruned = _delete_ids(library, plan.gone_ids)
    runner = choose_runner(options.runner, settings.ray_address, len(plan.todo))
    if on_plan:
        on_plan(plan, runner)
    writer = RowWriter(library, report, options.commit_every, on_commit=options.on_commit)
    known = KnownIds(plan.known_ids)
    if runner == "ray":
        _run_ray(writer, plan, known, encoder, settings, options, s3_options)
    else:
        items = (Item(uri=s.uri, description=s.description, tags=tuple(s.tags), mtime=s.mtime) for s in plan.todo)
        run_local(writer, encoder, items, known_among=known.among, limits=settings.limits,
                  batch_size=options.batch_size, threads=options.decode_threads, s3_options=s3_options,
                  progress=progress)
    writer.close()
    report.runner, report.todo = runner, len(plan.todo)
    if options.error_report:
        write_failures(report, library.db_uri, library.table_name, s3_options)
    if options.optimize and (report.indexed or report.pruned):
        from store import optimize_if_large

        optimized = optimize_if_large(library)
        report.optimized = optimized.to_dict() if optimized is not None else None
    report.seconds = time.perf_counter() - started
    return report


def _delete_ids(library: ImageLibrary, ids: list[str]) -> int:
    return sum(library.delete(ids=ids[start:start + DELETE_CHUNK]) for start in range(0, len(ids), DELETE_CHUNK))


def _run_ray(writer: RowWriter, plan: Plan, known: KnownIds, encoder, settings: Settings,
             options: IndexOptions, s3_options: dict) -> None:
    from pipeline.job import run as job

    job_options = job.JobOptions(model=encoder.model_id, device=settings.device, dtype=options.dtype,
                                 encode_batch_size=options.encode_batch_size, num_encoders=options.num_encoders,
                                 commit_every=options.commit_every, shared_db=options.shared_db,
                                 limits=settings.limits, s3_options=s3_options, crash=options.crash)
    started = job.connect(settings.ray_address)
    try:
        job.run_job(writer, plan, job_options, known)
    finally:
        if started:  # a Ray we only joined (cluster, notebook, test session) is left running
            import ray

            ray.shutdown()
