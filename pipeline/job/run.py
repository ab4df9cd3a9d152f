"""The Ray Data executor of the ingestion core: read+decode (CPU tasks) -> encode (actor pool) -> write.

    connect(address)                               start a local Ray (loopback) or join a cluster
    run_job(writer, plan, options, known)          push plan.todo through the core's stages

The stages are the core's (pipeline/ingest/stages.py); planning happens before (ingest/plan.py),
and the driver feeds the encoded items to the core's writer (ingest/write.py), which commits in
large batches. Ray Data's progress bars show each stage while it runs.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass

from pipeline.errors import BadInputError
from pipeline.images import DecodeLimits
from pipeline.ingest.known import KnownIds
from pipeline.ingest.plan import Plan
from pipeline.ingest.write import COMMIT_EVERY, RowWriter
from pipeline.job.decode import decode_batch, unpack
from pipeline.job.encode import CrashOnBatch, EncodeBatch
from store import ImageLibrary

log = logging.getLogger(__name__)

LOCAL_OBJECT_STORE_BYTES = 500 * 2**20
# Host memory an encoder actor reserves for weights and activations. Being a remote argument the
# decode tasks lack, it also stops Ray Data from fusing decoding into the encoder actors (ops with
# different remote args never fuse), which would put JPEG work on the GPU workers.
ENCODER_MEMORY_BYTES = 2**30
ROWS_PER_BLOCK = 64  # one decode task per block: small enough to spread, large enough to amortise
# A decode task whose worker dies (OOM killer, a lost node) is run again; decoding has no side
# effects. Ray Data's default is to retry forever, which would hang the job on a file that kills
# its worker every time: after this many tries the job stops with Ray's error instead.
DECODE_TASK_RETRIES = 3
# A dead encoder actor is restarted and its unfinished batches are sent again, without limit
# (Ray Data's defaults, stated here because the job's crash behaviour rests on them). Rows reach
# the table only through the driver's merge-insert, so a batch encoded twice is written once.
ENCODER_RESTARTS = dict(max_restarts=-1, max_task_retries=-1)


class JobError(BadInputError):
    """The job cannot run as asked (e.g. a local database on a multi-node cluster)."""


@dataclass
class JobOptions:
    model: str
    device: str = "auto"
    dtype: str = "auto"
    encode_batch_size: int | None = None  # default: 256 on GPUs, 64 on CPUs
    num_encoders: int | None = None  # default: one per GPU; without GPUs, one per 4 CPUs
    decode_batch_size: int = 32
    commit_every: int = COMMIT_EVERY
    shared_db: bool = False  # a local database path that every node mounts
    limits: DecodeLimits | None = None
    s3_options: dict | None = None  # pyarrow S3FileSystem options for s3:// sources
    crash: CrashOnBatch | None = None  # fault injection for the crash tests


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def connect(address: str | None = None, num_cpus: int | None = None, verbose: bool = False) -> bool:
    """Join the cluster at `address` (or $RAY_ADDRESS), else start a local Ray bound to loopback.

    Returns True when this call started a local Ray (the caller then owns its shutdown); an
    already initialised Ray in this process (a notebook, the test session) is used as it is."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is None or _is_loopback(address):
        # Read when ray is imported: without it Ray binds to (and advertises) the external interface.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=verbose)
        return False
    # A loopback-only Ray needs no token; a token left on this machine by another Ray would
    # otherwise switch authentication on and every later driver would need it.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Workers import our packages from the same environment: the project is installed (pip install -e .).
    ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=verbose,
             object_store_memory=LOCAL_OBJECT_STORE_BYTES, _node_ip_address="127.0.0.1")
    return True


def check_cluster(library: ImageLibrary, shared_db: bool) -> int:
    """Number of alive nodes; refuse a local database path on several nodes unless it is shared."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) > 1 and "://" not in library.db_uri and not shared_db:
        raise JobError(
            f"the database {library.db_uri} is a local path but the Ray cluster has {len(nodes)} nodes: "
            "use an s3:// database, or pass --shared-db if every node mounts that path")
    return len(nodes)


def _encoder_layout(options: JobOptions) -> dict:
    """Actors, their resources and batch size: one per GPU, else CPU actors sharing the cores."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus and options.device in ("auto", "cuda"):
        return dict(size=options.num_encoders or gpus, num_gpus=1, num_cpus=1, threads=None,
                    batch_size=options.encode_batch_size or 256)
    size = options.num_encoders or max(1, cpus // 4)
    # Each CPU actor reserves one CPU (the rest stay free for decoding) but runs torch on its share
    # of the cores: decode tasks are short, the encoder is the bottleneck.
    return dict(size=size, num_gpus=0, num_cpus=1, threads=max(1, cpus // size),
                batch_size=options.encode_batch_size or 64)


def _input_blocks(plan: Plan):
    import pyarrow as pa

    sources = plan.todo
    table = pa.table({
        "uri": [s.uri for s in sources],
        "size": pa.array([s.size for s in sources], pa.int64()),
        "mtime": pa.array([s.mtime if s.mtime is not None else math.nan for s in sources], pa.float64()),
        "description": [s.description for s in sources],
        "tags": [json.dumps(list(s.tags)) for s in sources],
    })
    return [table.slice(start, ROWS_PER_BLOCK) for start in range(0, table.num_rows, ROWS_PER_BLOCK)]


def build_dataset(plan: Plan, options: JobOptions, known: KnownIds):
    """The lazy Dataset: decode tasks then the encoder actor pool. Nothing runs until consumed."""
    import ray

    layout = _encoder_layout(options)
    ds = ray.data.from_arrow(_input_blocks(plan))
    ds = ds.map_batches(
        decode_batch, batch_size=options.decode_batch_size, batch_format="numpy", num_cpus=1,
        max_retries=DECODE_TASK_RETRIES,
        fn_kwargs=dict(model=options.model, limits=options.limits or DecodeLimits(),
                       known_ids=known, s3_options=options.s3_options),
    )
    ds = ds.map_batches(
        EncodeBatch, batch_size=layout["batch_size"], batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=layout["size"]),
        num_gpus=layout["num_gpus"], num_cpus=layout["num_cpus"], memory=ENCODER_MEMORY_BYTES, **ENCODER_RESTARTS,
        fn_constructor_kwargs=dict(model=options.model, device=options.device, dtype=options.dtype,
                                   batch_size=layout["batch_size"], threads=layout["threads"], crash=options.crash),
    )
    return ds, layout


def run_job(writer: RowWriter, plan: Plan, options: JobOptions, known: KnownIds) -> None:
    """Push plan.todo through the stages on Ray Data; the driver feeds the encoded items to `writer`."""
    check_cluster(writer.library, options.shared_db)
    if not plan.todo:
        return
    ds, layout = build_dataset(plan, options, known)
    log.info("encoders: %s", layout)
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
        writer.write(unpack(batch))
