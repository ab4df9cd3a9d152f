"""Throughput and fidelity of pipeline.encoder.ClipEncoder, standalone (torch + transformers only).

    python benchmarks/encoder_bench.py --threads 2 --n 64            # CPU, random ViT-B/32
    python benchmarks/encoder_bench.py --device cuda --n 4096         # GPU: batches 64..1024, fp16/bf16
    python benchmarks/encoder_bench.py --model openai/clip-vit-base-patch32   # real weights
    python benchmarks/encoder_bench.py --threads 2 --n 64 --batch-sizes 32 --onnx   # the CPU options


Measures, on the same 640x480 images:
  prepare_images   CPU resize + centre crop to uint8 (what Ray CPU workers run), images/s;
  encode_prepared  uint8 tensors -> normalised vectors on the device, per dtype and batch size
                   (CPU dtypes: fp32, bf16 autocast, int8 = the product's --dtype int8, ONNX Runtime where installed); every
                   option is timed in --rounds interleaved rounds and the best round is reported,
                   so a neighbour's burst on a shared machine hits all options alike;
  onnxruntime      with --onnx: the image tower exported to ONNX (legacy exporter), fp32 and
                   dynamically quantised int8, through ONNX Runtime's CPU provider;
  seeds_loop       the seeds' path, one image at a time: processor + get_image_features;
  fidelity         cosine of each dtype's vectors to fp32 on the same device, and of the encoder's
                   fp32 vectors to the seeds' loop (checks preprocessing matches the processor).
Without --model it builds a random-weight CLIP with ViT-B/32 shapes: speeds are representative,
fidelity on real weights can differ. Prints a table, then one JSON line.
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


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="hub id or local directory (default: a random ViT-B/32 built in a temp dir)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps (default: auto)")
    parser.add_argument("--n", type=int, default=256, help="images per measurement (default: 256)")
    parser.add_argument("--batch-sizes", help="comma list (default: 1,8,16,32,64 on CPU; 64,128,256,512,1024 on GPU)")
    parser.add_argument("--dtypes", help="comma list of fp32/fp16/bf16 (default: fp32,bf16 on CPU; fp16,bf16 on GPU)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--seed-n", type=int, default=32, help="images for the seeds' one-at-a-time loop (default: 32)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds per option (default: 3)")
    parser.add_argument("--onnx", action="store_true", help="also time ONNX Runtime fp32/int8 (needs onnx, onnxruntime)")
    return parser.parse_args(argv)


def _images(n: int, seed: int = 0):
    """Photo-sized 640x480 RGB images with some structure (upsampled noise), not pure noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).resize((640, 480), Image.BILINEAR)
            for _ in range(n)]


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _cos_stats(a, b):
    import numpy as np

    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.min()), float(cos.mean())


_FLAGS = ("avx", "amx", "fma", "f16c")


def _encoder_runner(encoder, batch_size: int, pixels):
    """encode_prepared over `pixels` (or its first n) at this batch size."""
    def run_one(n: int | None = None):
        encoder.batch_size = batch_size
        return encoder.encode_prepared(pixels[:n] if n else pixels)

    return run_one


def _onnx_runners(encoder, model_id, pixels, batch_sizes, threads: int) -> dict:
    """ONNX Runtime fp32 and int8 (dynamic quantisation of the MatMuls) runners for the image tower."""
    from pathlib import Path

    import numpy as np
    import onnxruntime as ort
    from transformers import AutoModel

    from pipeline.encoding.onnx_int8 import export_tower, quantise

    folder = Path(tempfile.mkdtemp(prefix="encoder-bench-onnx-"))
    fp32_path, int8_path = folder / "tower.onnx", folder / "tower-int8.onnx"
    scale, shift = encoder._normaliser()
    # The product's own export and quantisation, from a fresh model (not the encoder's: tensors made
    # under inference_mode cannot be traced).
    export_tower(lambda: AutoModel.from_pretrained(model_id), pixels.shape[2:], fp32_path)
    quantise(fp32_path, int8_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    runners = {}
    for name, path in (("ort-fp32", fp32_path), ("ort-int8", int8_path)):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for batch_size in batch_sizes:
            def run_one(n=None, session=session, batch_size=batch_size):
                x = pixels[:n] if n else pixels
                out = []
                for start in range(0, len(x), batch_size):
                    batch = x[start:start + batch_size].astype(np.float32) * scale.cpu().numpy() - shift.cpu().numpy()
                    emb = session.run(None, {"pixel_values": batch})[0]
                    out.append(emb / np.linalg.norm(emb, axis=1, keepdims=True))
                return np.concatenate(out)
            runners[(name, batch_size)] = run_one
    return runners


def run(args) -> dict:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoProcessor

    from pipeline.encoder import ClipEncoder, reference_image_embedding
    from pipeline.encoding.cpu import cpu_flags, cpu_model

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = None
    model_id = args.model
    if model_id is None:
        from tests.model_factory import build_random_clip

        tmp = tempfile.TemporaryDirectory(prefix="encoder-bench-")
        model_id = str(build_random_clip(tmp.name, "vit-b-32"))

    probe = ClipEncoder(model_id, device=args.device)
    device = probe.device
    on_cpu = device.startswith("cpu")
    batch_sizes = [int(b) for b in (args.batch_sizes or ("1,8,16,32,64" if on_cpu else "64,128,256,512,1024")).split(",")]
    dtypes = (args.dtypes or ("fp32,bf16,int8" if on_cpu else "fp16,bf16")).split(",")
    rows, report = [], {"model": args.model or "random ViT-B/32", "device": device, "n": args.n,
                        "threads": torch.get_num_threads(), "dim": probe.dim, "image_size": probe.image_size,
                        "cpu": cpu_model(), "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(_FLAGS)),
                        "auto_dtype": probe.dtype}

    images = _images(args.n)
    probe.prepare_images(images[:2])  # load the processor outside the timing
    pixels, seconds = _timed(lambda: probe.prepare_images(images))
    report["prepare_images_per_s"] = args.n / seconds
    rows.append(("prepare_images", "cpu", "-", "-", args.n / seconds, None))

    # fp32 on the same device is the reference every dtype is compared with.
    n_ref = min(args.n, 64)
    reference_encoder = ClipEncoder(model_id, device=device, dtype="fp32", batch_size=n_ref)
    reference = reference_encoder.encode_prepared(pixels[:n_ref])
    reference_encoder.release()

    report["encode"], report["fidelity"] = [], {}
    encoders = {}
    for dtype in dtypes:
        encoder = ClipEncoder(model_id, device=device, dtype=dtype)
        encoder.encode_prepared(pixels[: min(batch_sizes)])  # load + warm up kernels
        encoders[dtype] = encoder
    runners = {(dtype, b): _encoder_runner(enc, b, pixels) for dtype, enc in encoders.items() for b in batch_sizes}
    if args.onnx and on_cpu:
        runners.update(_onnx_runners(encoders.get("fp32") or ClipEncoder(model_id, device="cpu", dtype="fp32"),
                                     model_id, pixels, batch_sizes, torch.get_num_threads()))
    for run_one in runners.values():
        run_one()  # warm up this shape
    best = dict.fromkeys(runners, 0.0)
    for _ in range(args.rounds):
        for key, run_one in runners.items():
            _, seconds = _timed(run_one)
            best[key] = max(best[key], args.n / seconds)
    for (dtype, batch_size), rate in best.items():
        report["encode"].append({"dtype": dtype, "batch_size": batch_size, "images_per_s": rate})
        rows.append(("encode_prepared", device, dtype, batch_size, rate, None))
    for dtype, run_one in {d: r for (d, b), r in runners.items() if b == batch_sizes[0]}.items():
        cos_min, cos_mean = _cos_stats(run_one(n_ref), reference)
        report["fidelity"][dtype] = {"cos_min": cos_min, "cos_mean": cos_mean}
        rows.append(("fidelity vs fp32", device, dtype, n_ref, None, cos_min))
    for encoder in encoders.values():
        encoder.release()

    # The seeds' loop: processor and model call per image, fp32.
    seed_n = min(args.seed_n, args.n)
    model = AutoModel.from_pretrained(model_id).to(device).eval()
    processor = AutoProcessor.from_pretrained(model_id)
    reference_image_embedding(model, processor, images[0])
    seeds, seconds = _timed(lambda: np.stack([reference_image_embedding(model, processor, im) for im in images[:seed_n]]))
    report["seeds_loop_per_s"] = seed_n / seconds
    cos_min, _ = _cos_stats(reference[:seed_n], seeds[: min(seed_n, n_ref)]) if seed_n <= n_ref else (None, None)
    report["encoder_fp32_vs_seeds_cos_min"] = cos_min
    rows.append(("seeds_loop", device, "fp32", 1, seed_n / seconds, cos_min))
    if tmp is not None:
        tmp.cleanup()

    print(f"{'stage':<18}{'device':<8}{'dtype':<7}{'batch':>6}{'images/s':>11}{'cos_min':>10}")
    for stage, dev, dtype, batch, rate, cos in rows:
        rate_s = f"{rate:11.1f}" if rate is not None else f"{'':>11}"
        cos_s = f"{cos:10.6f}" if cos is not None else f"{'':>10}"
        print(f"{stage:<18}{dev:<8}{dtype:<7}{batch!s:>6}{rate_s}{cos_s}")
    print(f"CPU: {report['cpu']}; flags: {' '.join(report['cpu_flags'])}; dtype auto = {report['auto_dtype']}")
    print("cos_min: 'fidelity vs fp32' rows compare each dtype with fp32 on this device; the seeds_loop"
          " row compares the encoder's fp32 vectors with the seeds' one-image path")
    return report


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch is imported
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    report = run(args)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
