"""What photo metadata costs: decode and in-process `index` images/s with and without EXIF extraction.

    python benchmarks/photo_bench.py [--images 96] [--threads 2] [--dtype fp32] [--model DIR]

Every photo is a 640x480 JPEG carrying DateTimeOriginal, camera, exposure and GPS EXIF. "off"
replaces the extractor with one returning nulls (the cost before this feature); "no location"
keeps date and camera but skips GPS and the reverse geocoder. The geocoder's one-off load per
process is timed separately. Prints a table and a JSON line; compare within one run only.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--model", help="model dir (default: a random ViT-B/32 built here)")
    parser.add_argument("--decode-only", action="store_true", help="skip the (slow) indexing runs")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    import torch

    torch.set_num_threads(args.threads)
    import pipeline.images as images
    from pipeline import places
    from pipeline.encoder import ClipEncoder
    from pipeline.ingest.index import IndexOptions, index
    from pipeline.settings import Settings
    from pipeline.photo_metadata import empty_metadata
    from store import ImageLibrary
    from tests.model_factory import build_random_clip
    from tests.photo_files import write_photo

    work = Path(tempfile.mkdtemp(prefix="photo-bench-"))
    folder = work / "photos"
    for i in range(args.images):
        write_photo(folder / f"p{i:04d}.jpg", seed=i, size=(640, 480), taken=f"2019:07:{1 + i % 28:02d} 10:00:00", make="Apple",
                    model="iPhone 12", lat=38.0 + (i % 50) * 0.2, lon=-9.0 + (i % 40) * 0.3)
    files = sorted(folder.iterdir())
    blobs = [(p.read_bytes(), str(p)) for p in files]

    t0 = time.process_time()
    places.place_of(38.72, -9.14)
    geocoder_load_s = time.process_time() - t0  # CPU seconds

    # CPU time of this process: decoding is single-threaded, and on a shared machine wall time
    # mostly measures the neighbours. The index figures below are wall time.
    clock = time.process_time
    real = images.photo_metadata
    modes = {"off": (lambda img, location=True: empty_metadata(), images.DecodeLimits()),
             "no location": (real, images.DecodeLimits(location=False)),
             "on": (real, images.DecodeLimits())}

    def decode_rate(mode: str, rounds: int = 2) -> float:
        extractor, limits = modes[mode]
        images.photo_metadata = extractor
        try:
            best = 0.0
            for _ in range(rounds):
                t = clock()
                for data, uri in blobs:
                    images.decode_image(data, uri, limits, draft_size=224)
                best = max(best, len(blobs) / (clock() - t))
            return best
        finally:
            images.photo_metadata = real

    # Interleaved rounds, best of each: on a shared machine the slowest moments say nothing.
    decode = {mode: 0.0 for mode in modes}
    for _ in range(3):
        for mode in modes:
            decode[mode] = max(decode[mode], round(decode_rate(mode), 1))

    index = {}
    if not args.decode_only:
        model = args.model or str(build_random_clip(work / "vit-b-32", size="vit-b-32"))
        encoder = ClipEncoder(model, device="cpu", dtype=args.dtype)
        encoder.encode_texts(["warm up"])
    for mode in () if args.decode_only else ("off", "on"):
        extractor, limits = modes[mode]
        images.photo_metadata = extractor
        try:
            library = ImageLibrary(str(work / f"db-{mode.replace(' ', '-')}"))
            report = index(library, encoder, [str(folder)], settings=Settings(limits=limits),
                           options=IndexOptions(runner="local"))
            index[mode] = round(report.images_per_second, 2)
        finally:
            images.photo_metadata = real
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    figures = {
        "images": args.images, "threads": args.threads, "dtype": args.dtype,
        "decode_images_per_s": decode, "index_images_per_s": index,
        "geocoder_first_load_s": round(geocoder_load_s, 2),
        "cpu_flags": [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags],
    }
    print(f"decode (640x480 JPEG + EXIF, CPU time, best of 6): " + ", ".join(f"{k} {v} img/s" for k, v in decode.items()))
    if index:
        print(f"index in process (ViT-B/32 random, {args.dtype}): " + ", ".join(f"{k} {v} img/s" for k, v in index.items()))
    print(f"reverse geocoder first load: {geocoder_load_s:.2f} CPU s per process")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
