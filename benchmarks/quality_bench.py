"""Retrieval quality, offline: train a small CLIP here, then measure text->image search through the
checkpoint's reference path and through the product's own path, side by side.

    OMP_NUM_THREADS=2 python benchmarks/quality_bench.py              # ~3-5 minutes on 2 cores
    python benchmarks/quality_bench.py --steps 300 --per-class 9      # quicker, noisier

No weights can be downloaded here, so the benchmark makes its own world: pictures of coloured
shapes (circle, square, triangle; five colours) on the left or right of a textured background,
captioned "a red circle on the left". A small CLIP (ViT 32 px, patch 8) is trained on them for a
few hundred steps, saved with save_pretrained and loaded back like any checkpoint. Held-out images
of the same 30 classes are written as files in six formats (JPEG, PNG, WebP, BMP, GIF, TIFF) and
several sizes and aspect ratios, then each class caption is a query and the images of its class
are the relevant set:

  reference    AutoProcessor + get_image_features on each decoded file, brute-force cosine;
  product      `python -m pipeline index` into a LanceDB table, then ImageLibrary.search;
  product-<d>  the same for each CPU speed option (--dtype fp32, bf16, int8);
  ann          the fp32 table after `optimize` builds its IVF index (>= 256 rows), same queries.

Reported: precision@10 and recall@20 per path, and the product path's difference to the reference
(any difference is a preprocessing or ranking defect). Prints a table and one JSON line.
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

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (30, 60, 220), "yellow": (235, 200, 20),
           "purple": (140, 40, 170)}
SIDES = ("left", "right")
CLASSES = [(s, c, p) for s in SHAPES for c in COLOURS for p in SIDES]
TEMPLATES = ("a {c} {s} on the {p}", "{c} {s}, {p} side", "a picture of a {c} {s} at the {p}",
             "the {s} is {c} and on the {p}")
# (width, height) and format of held-out files, cycled: small and large, portrait and landscape.
HELD_OUT_SIZES = ((64, 64), (96, 72), (200, 150), (150, 200), (480, 360), (47, 33), (300, 300))
HELD_OUT_FORMATS = (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("bmp", "BMP"), ("gif", "GIF"),
                    ("tif", "TIFF"))


def caption(cls, template: str = TEMPLATES[0]) -> str:
    shape, colour, side = cls
    return template.format(s=shape, c=colour, p=side)


def draw(cls, rng, size=(64, 64)):
    """One picture of class `cls`: a textured background and the shape inside the central square
    (so the processor's centre crop keeps it whatever the aspect ratio)."""
    import numpy as np
    from PIL import Image, ImageDraw

    shape, colour, side = cls
    width, height = size
    base = rng.integers(150, 256, 3)
    noise = rng.integers(-25, 26, (max(height // 4, 1), max(width // 4, 1), 3))
    texture = np.clip(base + noise, 0, 255).astype(np.uint8)
    image = Image.fromarray(texture).resize((width, height), Image.BILINEAR)
    square = min(width, height)
    left0, top0 = (width - square) / 2, (height - square) / 2
    radius = square * rng.uniform(0.14, 0.2)
    cx = left0 + square * (rng.uniform(0.22, 0.32) if side == "left" else rng.uniform(0.68, 0.78))
    cy = top0 + square * rng.uniform(0.35, 0.65)
    fill = tuple(int(np.clip(v + rng.integers(-20, 21), 0, 255)) for v in COLOURS[colour])
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse(box, fill=fill)
    elif shape == "square":
        pen.rectangle(box, fill=fill)
    else:
        pen.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill)
    return image


def train(out_dir: Path, steps: int, batch: int, seed: int = 0, pool_per_class: int = 24) -> dict:
    """Train a small CLIP on generated captioned pictures; save it with save_pretrained."""
    import numpy as np
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor

    from tests.model_factory import _byte_level_tokenizer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains no faster on 2 threads, and far slower on a busy machine
    tokenizer = _byte_level_tokenizer()
    text_ids = dict(vocab_size=len(tokenizer.get_vocab()), bos_token_id=0, eos_token_id=1, pad_token_id=1)
    config = CLIPConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         max_position_embeddings=48, **text_ids),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=32)
    tokenizer.model_max_length = 48
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer)
    model = CLIPModel(config)
    # Render a pool once (drawing and preprocessing cost more than a step of this small model).
    pool = [[draw(cls, rng, (64, 64)) for _ in range(pool_per_class)] for cls in CLASSES]
    pixels = processor.image_processor(images=[im for row in pool for im in row], return_tensors="pt")["pixel_values"]
    pixels = pixels.reshape(len(CLASSES), pool_per_class, *pixels.shape[1:])
    tokens = processor.tokenizer([caption(cls, t) for cls in CLASSES for t in TEMPLATES], padding=True,
                                 return_tensors="pt")
    token_ids = tokens["input_ids"].reshape(len(CLASSES), len(TEMPLATES), -1)
    token_mask = tokens["attention_mask"].reshape(len(CLASSES), len(TEMPLATES), -1)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps, pct_start=0.1)
    start, losses = time.perf_counter(), []
    model.train()
    classes = torch.arange(len(CLASSES))
    for _ in range(steps):
        # One picture per class per batch, so no two images in a batch share a caption class.
        picks = classes[torch.randperm(len(CLASSES))[:batch]]
        which = torch.randint(pool_per_class, (len(picks),))
        template = torch.randint(len(TEMPLATES), (len(picks),))
        loss = model(input_ids=token_ids[picks, template], attention_mask=token_mask[picks, template],
                     pixel_values=pixels[picks, which], return_loss=True).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
    torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    return {"steps": steps, "batch": min(batch, len(CLASSES)), "pool_images": len(CLASSES) * pool_per_class, "seconds": time.perf_counter() - start,
            "loss_first": float(np.mean(losses[:10])), "loss_last": float(np.mean(losses[-10:]))}


def write_held_out(folder: Path, per_class: int, seed: int = 1) -> dict[str, int]:
    """Held-out files, formats and sizes cycled; returns file path -> class index."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels, n = {}, 0
    for label, cls in enumerate(CLASSES):
        for _ in range(per_class):
            ext, fmt = HELD_OUT_FORMATS[n % len(HELD_OUT_FORMATS)]
            image = draw(cls, rng, HELD_OUT_SIZES[n % len(HELD_OUT_SIZES)])
            path = folder / f"img_{n:04d}.{ext}"
            image.save(path, fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
            labels[str(path)] = label
            n += 1
    return labels


def _metrics(ranked: list[list[str]], labels: dict[str, int]) -> dict:
    """precision@10 (over min(10, relevant)) and recall@20, averaged over the class queries."""
    import numpy as np

    precision, recall = [], []
    for label, uris in enumerate(ranked):
        relevant = {u for u, lab in labels.items() if lab == label}
        precision.append(sum(u in relevant for u in uris[:10]) / min(10, len(relevant)))
        recall.append(sum(u in relevant for u in uris[:20]) / len(relevant))
    return {"precision_at_10": float(np.mean(precision)), "recall_at_20": float(np.mean(recall))}


def reference_rankings(model_dir: str, labels: dict[str, int], queries: list[str]):
    """The checkpoint's own path: processor + get_image_features per decoded file, brute force."""
    import numpy as np
    import torch
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    from pipeline.encoder import _features, reference_image_embedding

    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir, backend="pil")
    uris = list(labels)
    images = np.stack([reference_image_embedding(model, processor, Image.open(u)) for u in uris])
    tokens = processor.tokenizer(queries, padding=True, return_tensors="pt")
    with torch.inference_mode():
        texts = torch.nn.functional.normalize(_features(model.get_text_features(**tokens)), dim=-1).numpy()
    order = np.argsort(-(texts @ images.T), axis=1)[:, :20]
    return [[uris[j] for j in row] for row in order], dict(zip(uris, images))


def product_rankings(model_dir: str, folder: Path, db: Path, dtype: str, queries: list[str],
                     reference_vectors: dict, ann: bool = False) -> tuple[list[list[str]], dict]:
    """The product's path: `index` (in process), then ClipEncoder.encode_texts + ImageLibrary.search."""
    import numpy as np

    from pipeline.cli import main
    from pipeline.encoder import ClipEncoder
    from store import ImageLibrary

    table = f"images_{dtype}"
    info = {}
    if not ann:
        start = time.perf_counter()
        code = main(["index", str(folder), "--db", str(db), "--table", table, "--model", model_dir,
                     "--dtype", dtype, "--runner", "local"])
        if code != 0:
            raise SystemExit(f"index --dtype {dtype} failed with exit code {code}")
        info["index_seconds"] = time.perf_counter() - start
    else:
        code = main(["optimize", "--db", str(db), "--table", table, "--index-threshold", "256"])
        if code != 0:
            raise SystemExit(f"optimize failed with exit code {code}")
    library = ImageLibrary(str(db), table)
    plan = library.search_plan()
    info["search_plan"] = f"{plan.index_type}, nprobes {plan.nprobes}, refine {plan.refine_factor}" if plan else "exact"
    stored = library.query(select=["uri", "vector"], limit=None).to_pylist()
    cosines = [float(np.dot(row["vector"], reference_vectors[row["uri"]])) for row in stored]
    info["image_cos_to_reference_min"] = min(cosines)
    vectors = ClipEncoder(model_dir, device="cpu", dtype=dtype).encode_texts(queries)
    return [[hit["uri"] for hit in library.search(v, k=20)] for v in vectors], info


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps (default: 600)")
    parser.add_argument("--batch", type=int, default=30, help="training batch, at most one per class (default: 30)")
    parser.add_argument("--per-class", type=int, default=10,
                        help="held-out images per class, 30 classes (default: 10 = 300 rows, enough for an IVF index)")
    parser.add_argument("--dtypes", default="fp32,bf16,int8", help="product-path speed options (default: fp32,bf16,int8)")
    parser.add_argument("--work", help="keep the model, files and tables here (default: a temp dir)")
    return parser.parse_args(argv)


def run(args) -> dict:
    import torch

    from pipeline.encoding.cpu import auto_cpu_dtype, cpu_flags, cpu_model

    work = Path(args.work or tempfile.mkdtemp(prefix="quality-bench-"))
    model_dir, folder, db = work / "model", work / "held-out", work / "db"
    report = {"cpu": cpu_model(), "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(("avx512_bf16", "amx", "avx512_vnni", "avx2"))),
              "threads": torch.get_num_threads(), "auto_dtype": auto_cpu_dtype()}
    report["training"] = train(model_dir, args.steps, args.batch)
    labels = write_held_out(folder, args.per_class)
    report["held_out"] = {"images": len(labels), "classes": len(CLASSES),
                          "formats": [f for _, f in HELD_OUT_FORMATS], "sizes": [list(s) for s in HELD_OUT_SIZES]}
    queries = [caption(cls) for cls in CLASSES]
    ranked, reference_vectors = reference_rankings(str(model_dir), labels, queries)
    rows = [("reference", _metrics(ranked, labels), {})]
    for dtype in args.dtypes.split(","):
        ranked, info = product_rankings(str(model_dir), folder, db, dtype, queries, reference_vectors)
        rows.append((f"product-{dtype}", _metrics(ranked, labels), info))
    ranked, info = product_rankings(str(model_dir), folder, db, "fp32", queries, reference_vectors, ann=True)
    rows.append(("ann-fp32", _metrics(ranked, labels), info))
    reference = rows[0][1]["precision_at_10"]
    report["paths"] = {name: {**m, **info, "precision_delta": m["precision_at_10"] - reference}
                       for name, m, info in rows}

    t = report["training"]
    print(f"trained {t['steps']} steps x {t['batch']} in {t['seconds']:.0f} s (loss {t['loss_first']:.2f} -> "
          f"{t['loss_last']:.2f}); {len(labels)} held-out files, {len(CLASSES)} class queries")
    print(f"{'path':<14}{'P@10':>8}{'R@20':>8}{'vs ref':>9}{'img cos':>9}{'index s':>9}  search")
    for name, values in report["paths"].items():
        seconds = f"{values['index_seconds']:9.1f}" if "index_seconds" in values else f"{'':>9}"
        cos = f"{values['image_cos_to_reference_min']:9.5f}" if "image_cos_to_reference_min" in values else f"{'':>9}"
        print(f"{name:<14}{values['precision_at_10']:8.3f}{values['recall_at_20']:8.3f}"
              f"{values['precision_delta']:+9.3f}{cos}{seconds}  {values.get('search_plan', 'brute force')}")
    print("img cos: the smallest cosine between a stored vector and the reference path's vector of the same file")
    print(f"CPU: {report['cpu']}; flags: {' '.join(report['cpu_flags'])}; threads {report['threads']}; "
          f"dtype auto = {report['auto_dtype']}")
    return report


def main(argv=None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = run(_parse_args(argv))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
