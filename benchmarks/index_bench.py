"""End-to-end speed of the Ray Data indexing job against the encoder's ceiling and the seeds' loop.

    OMP_NUM_THREADS=2 python benchmarks/index_bench.py --n 1000,10000 --dtype bf16

In one run, on the same generated 640x480 JPEGs and a random-weight ViT-B/32:
  ceiling     ClipEncoder.encode_prepared alone on pre-decoded uint8 tensors, best batch size;
  seeds_loop  one image at a time: open, processor, get_image_features, append (fp32, as the seeds);
  job         `python -m pipeline index DIR --runner ray` in process: images/s of the job itself
              (listing, Ray Data execution and writes) and including Ray's startup.
Prints a table and one JSON line, with the peak memory of the driver and the local Ray together for
each size, and the marginal rate between sizes (start-up costs cancel out).
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


def _write_jpegs(folder: Path, n: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
        path = folder / f"img_{i:05d}.jpg"
        Image.fromarray(small).resize((640, 480), Image.BILINEAR).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


def ceiling(model: str, paths: list[Path], dtype: str, batch_sizes: list[int]) -> dict:
    from pipeline.encoder import ClipEncoder
    from pipeline.images import read_image_file

    encoder = ClipEncoder(model, device="cpu", dtype=dtype)
    pixels = encoder.prepare_images([read_image_file(p, draft_size=256).image for p in paths])
    encoder.batch_size = batch_sizes[0]
    encoder.encode_prepared(pixels[:batch_sizes[0]])  # warm up
    rates = {}
    for bs in batch_sizes:
        encoder.batch_size = bs
        t0 = time.perf_counter()
        encoder.encode_prepared(pixels)
        rates[bs] = len(pixels) / (time.perf_counter() - t0)
    return rates


def seeds_loop(model: str, paths: list[Path]) -> float:
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    clip, processor = AutoModel.from_pretrained(model).eval(), AutoProcessor.from_pretrained(model, backend="pil")
    vectors = []
    t0 = time.perf_counter()
    for path in paths:
        image = Image.open(path).convert("RGB")
        inputs = processor(images=image, return_tensors="pt")
        with torch.no_grad():
            feats = clip.get_image_features(**inputs)
        feats = getattr(feats, "pooler_output", feats)
        vectors.append((feats / feats.norm(dim=-1, keepdim=True))[0].numpy())
    return len(paths) / (time.perf_counter() - t0)


class TreeMemory:
    """Peak resident memory of this process and all its children (the local Ray: raylet, workers,
    object store), sampled every 0.2 s: the job streams, so it should not grow with the image count."""

    def __init__(self):
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def job(model: str, folder: Path, db: Path, dtype: str, extra: list[str]) -> dict:
    import contextlib
    import io

    from pipeline.cli import main

    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), TreeMemory() as memory:
        code = main(["index", str(folder), "--db", str(db), "--model", model, "--runner", "ray",
                     "--dtype", dtype, "--json", *extra])
    total = time.perf_counter() - t0
    report = json.loads(out.getvalue())
    assert code == 0 and report["indexed"] == report["seen"], report
    return {"images": report["indexed"], "seconds": report["seconds"],
            "job_images_per_s": report["images_per_second"], "with_startup_images_per_s": report["indexed"] / total,
            "stage_seconds": report["stage_seconds"], "peak_rss_mb": round(memory.peak / 2**20)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000", help="image counts, e.g. 1000,10000: memory and marginal rate per size")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--ceiling-n", type=int, default=128)
    parser.add_argument("--seed-n", type=int, default=32)
    parser.add_argument("--batch-sizes", default="16,32,64")
    parser.add_argument("--job-args", default="", help="extra index arguments, e.g. '--encode-batch-size 32'")
    args = parser.parse_args(argv)
    sizes = sorted(int(n) for n in args.n.split(","))
    from tests.model_factory import build_random_clip

    with tempfile.TemporaryDirectory(prefix="index-bench-") as tmp:
        tmp = Path(tmp)
        model = str(build_random_clip(tmp / "model", "vit-b-32"))
        paths = _write_jpegs(tmp / "images", sizes[-1])
        results = {"dtype": args.dtype, "threads": int(os.environ.get("OMP_NUM_THREADS", "0")), "jobs": []}
        for n in sizes:  # each size in its own folder of links, indexed into a fresh table
            folder = tmp / f"images-{n}"
            folder.mkdir()
            for path in paths[:n]:
                os.link(path, folder / path.name)
            results["jobs"].append(job(model, folder, tmp / f"db-{n}", args.dtype, args.job_args.split()))
        rates = ceiling(model, paths[:args.ceiling_n], args.dtype, [int(b) for b in args.batch_sizes.split(",")])
        results["ceiling_by_batch"] = {k: round(v, 1) for k, v in rates.items()}
        results["ceiling"] = max(rates.values())
        results["seeds_loop"] = seeds_loop(model, paths[:args.seed_n])
    print(f"ceiling (encoder alone, {args.dtype}, best batch): {results['ceiling']:.1f} img/s  {results['ceiling_by_batch']}")
    print(f"seeds' loop (one image at a time, fp32):        {results['seeds_loop']:.1f} img/s")
    for run in results["jobs"]:
        e2e = run["job_images_per_s"]
        print(f"job, {run['images']:>6} images: {e2e:.1f} img/s ({run['with_startup_images_per_s']:.1f} with Ray startup), "
              f"job/ceiling {e2e / results['ceiling']:.2f}, job/seeds' loop {e2e / results['seeds_loop']:.1f}, "
              f"peak memory (driver + Ray) {run['peak_rss_mb']} MB")
    if len(results["jobs"]) > 1:  # the fixed start-up cost (actors, model load) cancels out
        first, last = results["jobs"][0], results["jobs"][-1]
        marginal = (last["images"] - first["images"]) / (last["seconds"] - first["seconds"])
        results["marginal_images_per_s"] = round(marginal, 1)
        print(f"marginal rate {first['images']}->{last['images']} images: {marginal:.1f} img/s "
              f"= {marginal / results['ceiling']:.2f} x ceiling")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
