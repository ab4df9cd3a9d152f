"""Replaying a checkpoint's image processor with PIL + numpy, so images become uint8 (3, H, W).

uint8 is 4x smaller than the processor's float pixels (what CPU workers ship to the encoder), and the
same recipe serves CLIP, Chinese-CLIP and SigLIP: resize (short side or exact size), centre crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Image processors whose preprocess is resize -> centre-crop -> rescale -> normalise (any backend).
REPLICABLE_PROCESSORS = {"CLIPImageProcessor", "ChineseCLIPImageProcessor", "SiglipImageProcessor"}


def _size(size) -> dict:
    """transformers 5 keeps sizes in a SizeDict, older versions in a dict."""
    keys = ("shortest_edge", "longest_edge", "height", "width")
    return {k: (size.get(k) if isinstance(size, dict) else getattr(size, k, None)) for k in keys}


@dataclass(frozen=True)
class PixelRecipe:
    """What the checkpoint's image processor does before rescaling, replayed with PIL."""

    resample: int
    shortest_edge: int | None  # resize so the short side is this, keeping the aspect ratio ...
    resize_hw: tuple[int, int] | None  # ... or resize to exactly (height, width)
    crop_hw: tuple[int, int] | None

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.crop_hw or self.resize_hw  # type: ignore[return-value]


def pixel_recipe(ip) -> PixelRecipe | None:
    """A recipe for image processor `ip`, or None when we cannot reproduce it exactly."""
    name = type(ip).__name__.removesuffix("Pil").removesuffix("Fast")
    plain = all(getattr(getattr(type(ip), attr, None), "__module__", "").startswith(
        ("transformers.image_processing_backends", "transformers.image_processing_utils"))
        for attr in ("preprocess", "_preprocess"))
    if not (name in REPLICABLE_PROCESSORS or plain) or getattr(ip, "do_pad", False):
        return None
    try:
        resample = int(getattr(ip, "resample", 2))  # PIL ints / PILImageResampling; not torchvision modes
    except (TypeError, ValueError):
        return None
    shortest, resize_hw, crop_hw = None, None, None
    size, crop = _size(getattr(ip, "size", None)), _size(getattr(ip, "crop_size", None))
    if getattr(ip, "do_resize", True):
        if size["shortest_edge"] and not size["longest_edge"]:
            shortest = int(size["shortest_edge"])
        elif size["height"] and size["width"]:
            resize_hw = (int(size["height"]), int(size["width"]))
        else:
            return None
    if getattr(ip, "do_center_crop", False):
        if not (crop["height"] and crop["width"]):
            return None
        crop_hw = (int(crop["height"]), int(crop["width"]))
    if crop_hw is None and resize_hw is None:
        return None  # output size would vary per image: not batchable
    return PixelRecipe(resample, shortest, resize_hw, crop_hw)


def to_rgb(image):
    """RGB with transparency composited onto white, as transformers' convert_to_rgb does."""
    from PIL import Image

    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def prepare_one(image, recipe: PixelRecipe) -> np.ndarray:
    image = to_rgb(image)
    (width, height), edge = image.size, recipe.shortest_edge
    new_h, new_w = recipe.resize_hw or (height, width)
    if edge:  # int() truncates the long side, like the processor
        new_w, new_h = (edge, int(edge * height / width)) if width <= height else (int(edge * width / height), edge)
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), resample=recipe.resample)
    pixels = np.asarray(image)
    if recipe.crop_hw:
        pixels = center_crop(pixels, *recipe.crop_hw)
    return pixels.transpose(2, 0, 1)


def center_crop(pixels: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    """transformers' center_crop on HWC: centre crop, zero-padding first when the image is smaller."""
    pad_h, pad_w = max(crop_h - pixels.shape[0], 0), max(crop_w - pixels.shape[1], 0)
    if pad_h or pad_w:  # the larger half goes first, as in transformers
        pixels = np.pad(pixels, ((pad_h - pad_h // 2, pad_h // 2), (pad_w - pad_w // 2, pad_w // 2), (0, 0)))
    h, w = pixels.shape[:2]
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return pixels[top:top + crop_h, left:left + crop_w]
