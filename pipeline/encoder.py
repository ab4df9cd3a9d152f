"""CLIP-family encoder: images and texts to L2-normalised float32 vectors.

No ray/lancedb/streamlit, and torch/transformers are imported on first use, so this runs alone on a
GPU box and importing it in a Ray CPU worker is cheap. The image path is split so GPUs stay busy:
`prepare_images` (CPU, PIL/numpy) resizes and centre-crops exactly like the checkpoint's image
processor into uint8 (n, 3, H, W), 4x smaller than float pixels; `encode_prepared` does /255,
mean/std and the forward pass on the device. For an image processor we do not replicate (padding,
tiling, a custom `preprocess`) prepare_images runs that processor on the CPU and returns its float32
pixels, and encode_prepared skips normalisation for floating-point input.
"""

from __future__ import annotations

import gc
import os
import threading
from dataclasses import dataclass

import numpy as np

from pipeline.errors import BadInputError, ModelUnavailableError  # noqa: F401 - re-exported

DEFAULT_MODEL = "openai/clip-vit-base-patch32"
MODEL_ENV = "IMAGESEARCH_MODEL"

# Image processors whose preprocess is resize -> centre-crop -> rescale -> normalise (any backend).
_REPLICABLE_PROCESSORS = {"CLIPImageProcessor", "ChineseCLIPImageProcessor", "SiglipImageProcessor"}
# SigLIP was trained on texts padded to the full length; padding changes its embeddings.
_PAD_TO_MAX_LENGTH = {"siglip", "siglip2"}
_DTYPES = {"fp32": "fp32", "float32": "fp32", "fp16": "fp16", "float16": "fp16", "half": "fp16",
           "bf16": "bf16", "bfloat16": "bf16"}


def resolve_model(explicit: str | None = None, table_model: str | None = None) -> str:
    """The model to use: an explicit argument, else $IMAGESEARCH_MODEL, else the model an existing
    table was built with, else DEFAULT_MODEL."""
    return explicit or table_model or DEFAULT_MODEL


def _unavailable(model_id: str, exc: BaseException) -> ModelUnavailableError:
    looks_like_path = model_id.startswith((os.sep, ".", "~")) or model_id.count("/") > 1
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if not isinstance(exc, OSError):  # files were found but are not a model we can use
        msg = (f"Cannot load model '{model_id}' ({reason}); "
               f"set {MODEL_ENV} to a CLIP, SigLIP or Chinese-CLIP checkpoint (hub id or local directory).")
    elif os.path.isdir(os.path.expanduser(model_id)):
        msg = (f"Cannot load model '{model_id}': the directory is not a complete saved model ({reason}); "
               f"set {MODEL_ENV} to a directory written by save_pretrained (config, weights and processor files).")
    elif looks_like_path:
        msg = (f"Cannot load model '{model_id}': the directory does not exist; "
               f"set {MODEL_ENV} to a local model directory or a Hugging Face hub id.")
    else:
        msg = (f"Cannot load model '{model_id}': weights are not in the local cache and there is no internet; "
               f"download them once (hf download {model_id}) "
               f"or set {MODEL_ENV} to a local model directory.")
    return ModelUnavailableError(msg)


def _load(model_id: str, loader, **kwargs):
    try:
        return loader(model_id, **kwargs)
    except (OSError, ValueError) as exc:  # hub/offline errors are OSError; bad repo ids are ValueError
        raise _unavailable(model_id, exc) from exc


def _features(output):
    """transformers 5 returns a model output from get_*_features; older versions a tensor."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _size(size) -> dict:
    """transformers 5 keeps sizes in a SizeDict, older versions in a dict."""
    keys = ("shortest_edge", "longest_edge", "height", "width")
    return {k: (size.get(k) if isinstance(size, dict) else getattr(size, k, None)) for k in keys}


@dataclass(frozen=True)
class _PixelRecipe:
    """What the checkpoint's image processor does before rescaling, replayed with PIL."""

    resample: int
    shortest_edge: int | None  # resize so the short side is this, keeping the aspect ratio ...
    resize_hw: tuple[int, int] | None  # ... or resize to exactly (height, width)
    crop_hw: tuple[int, int] | None

    @property
    def out_hw(self) -> tuple[int, int]:
        return self.crop_hw or self.resize_hw  # type: ignore[return-value]


def _pixel_recipe(ip) -> _PixelRecipe | None:
    """A recipe for image processor `ip`, or None when we cannot reproduce it exactly."""
    name = type(ip).__name__.removesuffix("Pil").removesuffix("Fast")
    plain = all(getattr(getattr(type(ip), attr, None), "__module__", "").startswith(
        ("transformers.image_processing_backends", "transformers.image_processing_utils"))
        for attr in ("preprocess", "_preprocess"))
    if not (name in _REPLICABLE_PROCESSORS or plain) or getattr(ip, "do_pad", False):
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
    return _PixelRecipe(resample, shortest, resize_hw, crop_hw)


def _to_rgb(image):
    """RGB with transparency composited onto white, as transformers' convert_to_rgb does."""
    from PIL import Image

    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _prepare_one(image, recipe: _PixelRecipe) -> np.ndarray:
    image = _to_rgb(image)
    (width, height), edge = image.size, recipe.shortest_edge
    new_h, new_w = recipe.resize_hw or (height, width)
    if edge:  # int() truncates the long side, like the processor
        new_w, new_h = (edge, int(edge * height / width)) if width <= height else (int(edge * width / height), edge)
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), resample=recipe.resample)
    pixels = np.asarray(image)
    if recipe.crop_hw:
        pixels = _center_crop(pixels, *recipe.crop_hw)
    return pixels.transpose(2, 0, 1)


def _center_crop(pixels: np.ndarray, crop_h: int, crop_w: int) -> np.ndarray:
    """transformers' center_crop on HWC: centre crop, zero-padding first when the image is smaller."""
    pad_h, pad_w = max(crop_h - pixels.shape[0], 0), max(crop_w - pixels.shape[1], 0)
    if pad_h or pad_w:  # the larger half goes first, as in transformers
        pixels = np.pad(pixels, ((pad_h - pad_h // 2, pad_h // 2), (pad_w - pad_w // 2, pad_w // 2), (0, 0)))
    h, w = pixels.shape[:2]
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return pixels[top:top + crop_h, left:left + crop_w]


def _resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


class ClipEncoder:
    """CLIP, SigLIP or Chinese-CLIP by hub id or local directory; loads on first use, thread-safe.

    `device` "auto" picks cuda, then mps, then cpu. `dtype` "auto" is fp32 on CPU and fp16 on
    accelerators. bf16 on CPU runs under torch.autocast with fp32 weights: on a ViT-B/32 (2 threads)
    it is ~3.5x faster than fp32 and keeps LayerNorm/softmax in fp32 (cosine to fp32 0.99999, against
    0.99995 for a bf16-cast model that was only ~20% faster again).
    """

    def __init__(self, model: str | None = None, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 64):
        if dtype != "auto" and dtype not in _DTYPES:
            raise BadInputError(f"unknown dtype {dtype!r}: use auto, fp32, fp16 or bf16")
        if batch_size < 1:
            raise BadInputError(f"batch_size must be positive, got {batch_size}")
        self.model_id = resolve_model(model)
        self.batch_size = batch_size
        self._requested_device, self._requested_dtype = device, dtype
        self._lock = threading.RLock()
        self._device = self._config = self._processor = self._recipe_cache = self._model = None
        self._norm = None  # (scale, shift) tensors on the device

    def _lazy(self, attr: str, factory):
        """Double-checked under the lock, so threads racing on first use build one object."""
        if getattr(self, attr) is None:
            with self._lock:
                if getattr(self, attr) is None:
                    setattr(self, attr, factory())
        return getattr(self, attr)

    # ---- settings, resolved on first read -----------------------------------------------------
    @property
    def device(self) -> str:
        return self._lazy("_device", lambda: _resolve_device(self._requested_device))

    @property
    def dtype(self) -> str:
        """Resolved compute dtype: "fp32", "fp16" or "bf16"."""
        on_cpu = self.device.startswith("cpu")
        if self._requested_dtype == "auto":
            return "fp32" if on_cpu else "fp16"
        name = _DTYPES[self._requested_dtype]
        if on_cpu and name == "fp16":
            raise BadInputError("fp16 is not supported on CPU; use dtype bf16 or fp32")
        return name

    def _weights_dtype(self):
        import torch

        if self.device.startswith("cpu"):
            return torch.float32  # CPU bf16 is autocast over fp32 weights
        return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[self.dtype]

    def _autocast(self):
        import contextlib

        import torch

        if self.device.startswith("cpu") and self.dtype == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # ---- loaded on first use ------------------------------------------------------------------
    @property
    def config(self):
        from transformers import AutoConfig

        return self._lazy("_config", lambda: _load(self.model_id, AutoConfig.from_pretrained))

    @property
    def processor(self):
        import transformers

        # The PIL backend is what prepare_images replays; torchvision's resize differs slightly.
        kw = {"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5 else {"use_fast": False}
        return self._lazy("_processor", lambda: _load(self.model_id, transformers.AutoProcessor.from_pretrained, **kw))

    @property
    def model(self):
        from transformers import AutoModel

        def load():
            model = _load(self.model_id, AutoModel.from_pretrained, dtype=self._weights_dtype())
            return model.to(self.device).eval()

        return self._lazy("_model", load)

    @property
    def is_loaded(self) -> bool:
        """Whether the weights are in memory (dim, image_size and prepare_images never load them)."""
        return self._model is not None

    @property
    def dim(self) -> int:
        projection = getattr(self.config, "projection_dim", None)
        # SigLIP has no projection: its pooled vision output is the embedding.
        return int(projection or self.config.vision_config.hidden_size)

    @property
    def image_size(self) -> int:
        return int(self.config.vision_config.image_size)

    @property
    def _image_processor(self):
        return getattr(self.processor, "image_processor", self.processor)

    @property
    def _tokenizer(self):
        return getattr(self.processor, "tokenizer", self.processor)

    @property
    def _recipe(self) -> _PixelRecipe | None:
        return self._lazy("_recipe_cache", lambda: (_pixel_recipe(self._image_processor),))[0]

    # ---- images -------------------------------------------------------------------------------
    def prepare_images(self, images: list) -> np.ndarray:
        """PIL images -> uint8 (n, 3, H, W), resized and cropped like the checkpoint's processor (CPU only).

        Falls back to the processor's own float32 normalised pixels when its recipe is not one we
        replicate (see the module docstring)."""
        recipe = self._recipe
        if recipe is None:
            if not images:
                return np.zeros((0, 3, self.image_size, self.image_size), dtype=np.float32)
            pixels = self._image_processor(images=list(images), return_tensors="np")["pixel_values"]
            return np.asarray(pixels, dtype=np.float32)
        out = np.empty((len(images), 3, *recipe.out_hw), dtype=np.uint8)
        for i, image in enumerate(images):
            out[i] = _prepare_one(image, recipe)
        return out

    def _normaliser(self):
        """Per-channel (scale, shift) with x * scale - shift == (x * rescale_factor - mean) / std."""
        def build():
            import torch

            ip = self._image_processor
            rescale = float(getattr(ip, "rescale_factor", 1 / 255)) if getattr(ip, "do_rescale", True) else 1.0
            mean, std = np.zeros(1), np.ones(1)
            if getattr(ip, "do_normalize", True):
                mean, std = np.asarray(ip.image_mean, np.float64), np.asarray(ip.image_std, np.float64)
            scale, shift = (torch.tensor(a, dtype=torch.float32).reshape(1, -1, 1, 1).to(self.device)
                            for a in (rescale / std, mean / std))
            return scale, shift

        return self._lazy("_norm", build)

    def _encode(self, items, forward) -> np.ndarray:
        """Run forward(batch) -> features over batch_size slices; float32 (n, dim), L2-normalised."""
        out = np.empty((len(items), self.dim), dtype=np.float32)
        if len(items) == 0:
            return out
        import torch

        with torch.inference_mode(), self._autocast():
            for start in range(0, len(items), self.batch_size):
                feats = _features(forward(items[start:start + self.batch_size])).float()
                out[start:start + len(feats)] = torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()
        return out

    def encode_prepared(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (n, 3, H, W) from prepare_images -> float32 (n, dim), L2-normalised.

        Scaling and mean/std normalisation run on the device. Floating-point input is taken as
        already normalised (prepare_images' processor fallback)."""
        pixels = np.asarray(pixels)
        if pixels.ndim != 4:
            raise ValueError(f"expected pixels of shape (n, 3, H, W), got {pixels.shape}")

        def forward(batch):
            import torch

            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
            if x.dtype == torch.uint8:
                scale, shift = self._normaliser()
                x = x.float() * scale - shift
            return self.model.get_image_features(pixel_values=x.to(self._weights_dtype()))

        return self._encode(pixels, forward)

    def encode_images(self, images: list) -> np.ndarray:
        """PIL images -> float32 (n, dim), L2-normalised; prepared batch by batch to bound memory."""
        images = list(images)
        parts = [self.encode_prepared(self.prepare_images(images[start:start + self.batch_size]))
                 for start in range(0, len(images), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), dtype=np.float32)

    # ---- texts --------------------------------------------------------------------------------
    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> float32 (n, dim), L2-normalised; long texts are truncated to the model's length."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        limits = [getattr(getattr(self.config, "text_config", None), "max_position_embeddings", None),
                  getattr(self._tokenizer, "model_max_length", None)]
        max_length = min([int(n) for n in limits if n and n < 100_000] or [77])  # 1e30 means "unset"
        padding = "max_length" if self.config.model_type in _PAD_TO_MAX_LENGTH else True

        def forward(batch):
            tokens = self._tokenizer(batch, padding=padding, truncation=True, max_length=max_length,
                                     return_tensors="pt")
            return self.model.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()})

        return self._encode(texts, forward)

    def release(self) -> None:
        """Drop the weights (e.g. after indexing); the next encode call loads them again."""
        with self._lock:
            had_model, self._model, self._norm = self._model is not None, None, None
        if had_model:
            gc.collect()
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def reference_image_embedding(model, processor, image) -> np.ndarray:
    """The seeds' one-image path (processor -> get_image_features -> normalise): a (dim,) float32 vector.

    Tests and benchmarks compare ClipEncoder against this for fidelity."""
    import torch

    param = next(model.parameters())
    pixel_values = processor(images=image, return_tensors="pt")["pixel_values"].to(param.device, param.dtype)
    with torch.inference_mode():
        feats = _features(model.get_image_features(pixel_values=pixel_values))
    return torch.nn.functional.normalize(feats.float(), dim=-1)[0].cpu().numpy()
