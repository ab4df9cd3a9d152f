"""`generate PROMPT`: make images with Stable Diffusion; with --add, keep them in the library."""

from __future__ import annotations

import argparse
import os
import sys

from pipeline.commands.common import UsageError, make_encoder, open_library, print_json


def register(sub, common) -> None:
    p = sub.add_parser("generate", parents=[common], help="generate images from a prompt (Stable Diffusion)")
    p.add_argument("prompt", help="what to draw")
    p.add_argument("--negative", default="", help="negative prompt: what to keep out of the image")
    p.add_argument("--steps", type=int, default=25, help="denoising steps, 1-150 (default 25; SD-Turbo: 1-4)")
    p.add_argument("--guidance", type=float, default=7.5, help="guidance scale, 0-30 (default 7.5; SD-Turbo: 0)")
    p.add_argument("--size", default=None, help="WIDTHxHEIGHT, multiples of 8 from 64 to 2048 (default: the model's native size)")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible images (default: random, printed)")
    p.add_argument("--n", type=int, default=1, help="number of images, 1-8 (default 1); image i uses seed + i")
    p.add_argument("--out", default="generated", help="folder for the PNG files (default ./generated)")
    p.add_argument("--add", action="store_true", help="also keep the images in the library (media folder + index)")
    p.add_argument("--sd-model", default=None, help="diffusers model hub id or local directory (env IMAGESEARCH_SD_MODEL, "
                                                      "default stable-diffusion-v1-5/stable-diffusion-v1-5)")
    p.add_argument("--scheduler", default=None,
                   help="ddim, pndm, euler, euler-a, dpm++, dpm++-karras, lms or unipc (default: the model's own)")
    p.add_argument("--dtype", default=None,
                   help="auto (fp16 on CUDA, else fp32), fp32, fp16 or bf16 (env IMAGESEARCH_SD_DTYPE)")
    p.add_argument("--cpu-offload", action="store_true", default=None,
                   help="keep sub-models on the CPU until they run: less GPU memory, slower (env IMAGESEARCH_SD_CPU_OFFLOAD)")
    p.add_argument("--attention-slicing", action=argparse.BooleanOptionalAction, default=None,
                   help="compute attention in slices: less GPU memory (default: on for GPUs under 8 GiB)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(run=run_generate)


def params_from_args(args: argparse.Namespace):
    from pipeline.generate import GenerationParams, parse_size

    width = height = None
    if args.size:
        width, height = parse_size(args.size)
    return GenerationParams(prompt=args.prompt, negative_prompt=args.negative, steps=args.steps,
                            guidance=args.guidance, width=width, height=height, seed=args.seed, n=args.n)


def run_generate(args: argparse.Namespace) -> int:
    from pipeline.generate import Generator

    try:
        params = params_from_args(args).validate().with_seed()
        generator = Generator.from_settings(args.settings, model=args.sd_model, dtype=args.dtype, scheduler=args.scheduler,
                                       attention_slicing=args.attention_slicing, cpu_offload=args.cpu_offload)
    except ValueError as error:
        raise UsageError(str(error)) from None
    library = encoder = media_dir = None
    if args.add:  # check the library side before minutes of GPU work, not after
        library = open_library(args)
        media_dir = args.settings.media_dir()
        encoder = make_encoder(args, library)
        if library.exists():
            library.check_model(encoder.model_id, encoder.dim, encoder.identity)
    generator.check_available()
    images = _generate_with_progress(generator, params)
    os.makedirs(args.out, exist_ok=True)
    paths = []
    for image in images:
        path = os.path.join(args.out, f"{image.seed}-{image_hash(image)[:12]}.png")
        with open(path, "wb") as out:
            out.write(image.png)
        paths.append(path)
    ids = []
    if args.add:
        from pipeline.keep import add_generated

        ids = add_generated(library, encoder, images, media_dir)
    if args.json:
        print_json({"params": images[0].params.__dict__, "model": generator.model_id, "images": [
            {"path": path, "seed": image.seed, "nsfw": image.nsfw, **({"id": ids[i]} if ids else {})}
            for i, (path, image) in enumerate(zip(paths, images))]})
        return 0
    for i, (path, image) in enumerate(zip(paths, images)):
        print(f"{path}  seed {image.seed}" + (f"  id {ids[i]}" if ids else "") + ("  (flagged NSFW)" if image.nsfw else ""))
    return 0


def image_hash(image) -> str:
    from pipeline.images import content_id

    return content_id(image.png)


def _generate_with_progress(generator, params):
    from tqdm import tqdm

    with tqdm(total=params.steps, unit="step", desc="generating", file=sys.stderr, disable=None) as bar:
        def on_step(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        return generator.generate(params, on_step=on_step,
                                  on_wait=lambda: print("waiting for another generation to finish", file=sys.stderr))
