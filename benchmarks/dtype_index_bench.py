"""End-to-end `index` images/s per CPU precision, interleaved so a busy neighbour hits all alike.

    OMP_NUM_THREADS=2 python benchmarks/dtype_index_bench.py --images 64 --rounds 2

A random-weight ViT-B/32 (CLIPConfig() shapes) and generated 640x480 JPEGs; each round indexes the
folder into a fresh table once per --dtype (in process, local runner) and the best round is kept.
int8's first round exports and quantises the image tower (into a fresh cache folder, so it is cold);
later rounds load it from that cache, as every run after a machine's first does: both are printed.
Prints the CPU model and flags, `auto`'s choice, and each option's rate relative to fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dtypes", default="fp32,auto,bf16,int8")
    args = parser.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    from benchmarks.index_bench import _write_jpegs
    from pipeline.cli import main as cli
    from pipeline.encoding.cpu import auto_cpu_dtype, cpu_flags, cpu_model
    from tests.model_factory import build_random_clip

    work = Path(tempfile.mkdtemp(prefix="dtype-index-bench-"))
    from pipeline.encoding.onnx_int8 import CACHE_ENV

    os.environ[CACHE_ENV] = str(work / "cache")  # int8's first round is a cold export
    model = str(build_random_clip(work / "model", "vit-b-32"))
    _write_jpegs(work / "photos", args.images)
    dtypes = args.dtypes.split(",")
    best = dict.fromkeys(dtypes, 0.0)
    first = {}
    for round_ in range(args.rounds):
        for dtype in dtypes:
            start = time.perf_counter()
            code = cli(["index", str(work / "photos"), "--db", str(work / "db"), "--table", f"t{round_}_{dtype}",
                        "--model", model, "--dtype", dtype, "--runner", "local"])
            if code != 0:
                raise SystemExit(f"index --dtype {dtype} failed ({code})")
            rate = args.images / (time.perf_counter() - start)
            first.setdefault(dtype, rate)
            best[dtype] = max(best[dtype], rate)
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx512_bf16", "amx", "avx512_vnni", "avx2")))
    print(f"{'dtype':<8}{'images/s':>10}{'x fp32':>8}{'first round':>13}")
    for dtype, rate in best.items():
        print(f"{dtype:<8}{rate:10.1f}{rate / best.get('fp32', rate):8.2f}{first[dtype]:13.1f}")
    print(f"CPU: {cpu_model()}; flags: {' '.join(flags)}; auto = {auto_cpu_dtype()}; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(json.dumps({"images": args.images, "rounds": args.rounds, "images_per_s": best,
                      "first_round_images_per_s": first, "cpu": cpu_model(),
                      "cpu_flags": flags, "auto": auto_cpu_dtype()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
