"""CLIP-family encoder: images and texts to L2-normalised float32 vectors.

No ray/lancedb/streamlit, and torch/transformers are imported on first use, so this runs alone on a
GPU box and importing it in a Ray CPU worker is cheap. The image path is split so GPUs stay busy:
`prepare_images` (CPU, PIL/numpy) resizes and centre-crops exactly like the checkpoint's image
processor into uint8 (n, 3, H, W), 4x smaller than float pixels; `encode_prepared` does /255,
mean/std and the forward pass on the device. For an image processor we do not replicate (padding,
tiling, a custom `preprocess`) prepare_images runs that processor on the CPU and returns its float32
pixels, and encode_prepared skips normalisation for floating-point input.

Helpers live in pipeline/encoding/ (pixel recipes, CPU features, loading, model identity) and
pipeline/presets.py (short model names, per-family score scales).
"""

from __future__ import annotations

import gc
import os
import threading

import numpy as np

from pipeline.encoding.cpu import auto_cpu_dtype
from pipeline.encoding.loading import MODEL_ENV, ModelUnavailableError, check_family, import_transformers, load
from pipeline.encoding.pixels import PixelRecipe, pixel_recipe, prepare_one
from pipeline.errors import BadInputError
from pipeline.presets import hub_id

__all__ = ["DEFAULT_MODEL", "MODEL_ENV", "ClipEncoder", "ModelUnavailableError", "reference_image_embedding",
           "resolve_model"]

DEFAULT_MODEL = "openai/clip-vit-base-patch32"

# SigLIP was trained on texts padded to the full length; padding changes its embeddings.
_PAD_TO_MAX_LENGTH = {"siglip", "siglip2"}
_DTYPES = {"fp32": "fp32", "float32": "fp32", "fp16": "fp16", "float16": "fp16", "half": "fp16",
           "bf16": "bf16", "bfloat16": "bf16", "int8": "int8", "qint8": "int8"}
DTYPE_CHOICES = ("auto", "fp32", "bf16", "fp16", "int8")


def resolve_model(explicit: str | None = None, table_model: str | None = None) -> str:
    """The model to use: an explicit argument (the IMAGESEARCH_MODEL setting), else the model an
    existing table was built with, else DEFAULT_MODEL. Preset names (clip-b32, siglip2-b16, ...) become hub ids."""
    return hub_id(explicit or table_model or DEFAULT_MODEL)


def _features(output):
    """transformers 5 returns a model output from get_*_features; older versions a tensor."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def _quantize_linear_int8(model):
    """Dynamic int8 of every nn.Linear (weights int8, activations quantised per batch): the
    transformer's matmuls; LayerNorm, softmax and the patch convolution stay fp32."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class ClipEncoder:
    """CLIP, SigLIP (SigLIP2 fixed-resolution included) or Chinese-CLIP by preset, hub id or local
    directory; loads on first use, thread-safe (first use from many threads included).

    `device` "auto" picks cuda, then mps, then cpu. `dtype` "auto" is fp16 on accelerators and, on
    CPU, bf16 where the CPU computes bf16 natively (avx512_bf16 or AMX flags, read at run time) and
    fp32 elsewhere: emulated bf16 was 7x slower than fp32 on an AVX2-only CPU. bf16 on CPU runs
    under torch.autocast with fp32 weights (LayerNorm/softmax stay fp32). "int8" (CPU only) runs
    the image tower as a quantised ONNX Runtime model (texts stay fp32), or, without onnxruntime,
    torch's dynamic int8 of the Linear layers; docs/models.md has measured speed and quality.
    """

    def __init__(self, model: str | None = None, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 64):
        if dtype != "auto" and dtype not in _DTYPES:
            raise BadInputError(f"unknown dtype {dtype!r}: use {', '.join(DTYPE_CHOICES)}")
        if batch_size < 1:
            raise BadInputError(f"batch_size must be positive, got {batch_size}")
        self.model_id = resolve_model(model)
        self.batch_size = batch_size
        self._requested_device, self._requested_dtype = device, dtype
        self._lock = threading.RLock()
        self._device = self._config = self._processor = self._recipe_cache = self._model = None
        self._identity = None
        self._norm = None  # (scale, shift) tensors on the device
        self._tower = None  # int8 on CPU with onnxruntime: the quantised image tower (encoding/onnx_int8.py)

    def _lazy(self, attr: str, factory):
        """Double-checked under the lock, so threads racing on first use build one object. Factories
        import what they need inside the lock: lazy imports racing across threads can fail."""
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
        """Resolved compute dtype: "fp32", "fp16", "bf16" or "int8"."""
        on_cpu = self.device.startswith("cpu")
        if self._requested_dtype == "auto":
            return auto_cpu_dtype() if on_cpu else "fp16"
        name = _DTYPES[self._requested_dtype]
        if on_cpu and name == "fp16":
            raise BadInputError("fp16 is not supported on CPU; use dtype bf16, int8 or fp32")
        if not on_cpu and name == "int8":
            raise BadInputError("int8 is a CPU option; use dtype fp16 or bf16 on accelerators")
        return name

    def _weights_dtype(self):
        import torch

        if self.device.startswith("cpu"):
            return torch.float32  # CPU bf16 is autocast over fp32 weights; int8 quantises fp32 weights
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
        def build():
            config = load(self.model_id, import_transformers().AutoConfig.from_pretrained)
            check_family(self.model_id, config)  # one line for NaFlex or non-CLIP checkpoints
            return config

        return self._lazy("_config", build)

    @property
    def family(self) -> str:
        """clip, siglip or chinese_clip (from the config; no weights loaded)."""
        return check_family(self.model_id, self.config)

    @property
    def identity(self) -> dict:
        """What identifies the model whatever path it was loaded from (see encoding/identity.py);
        tables record it so the same model under another path is accepted."""
        from pipeline.encoding.identity import model_identity

        config = self.config
        return self._lazy("_identity", lambda: {**model_identity(self.model_id, config), "dim": self.dim})

    @property
    def processor(self):
        def build():
            module = import_transformers()
            # The PIL backend is what prepare_images replays; torchvision's resize differs slightly.
            kw = {"backend": "pil"} if int(module.__version__.split(".")[0]) >= 5 else {"use_fast": False}
            return load(self.model_id, module.AutoProcessor.from_pretrained, **kw)

        return self._lazy("_processor", build)

    @property
    def int8_backend(self) -> str | None:
        """For dtype int8: "onnxruntime" (images through the quantised ONNX tower, texts in fp32) where
        onnx and onnxruntime are installed, else "torch" (dynamic int8 of both towers' Linear layers)."""
        if self.dtype != "int8":
            return None
        from pipeline.encoding import onnx_int8

        return "onnxruntime" if onnx_int8.available() else "torch"

    def _fresh_model(self):
        self.config  # noqa: B018 (refuses unsupported families before reading weights)
        return load(self.model_id, import_transformers().AutoModel.from_pretrained, dtype=self._weights_dtype())

    @property
    def model(self):
        def build():
            model = self._fresh_model().to(self.device).eval()
            return _quantize_linear_int8(model) if self.int8_backend == "torch" else model

        return self._lazy("_model", build)

    @property
    def tower(self):
        """The ONNX Runtime int8 image tower, or None where images go through `model`."""
        if self.int8_backend != "onnxruntime":
            return None

        def build():
            import torch

            from pipeline.encoding import onnx_int8

            recipe = self._recipe  # the export's input shape is what prepare_images produces
            size = recipe.out_hw if recipe is not None else (self.image_size, self.image_size)
            return onnx_int8.load_tower(self.identity["fingerprint"], self._fresh_model, size, torch.get_num_threads())

        return self._lazy("_tower", build)

    @property
    def is_loaded(self) -> bool:
        """Whether the weights are in memory (dim, image_size and prepare_images never load them)."""
        return self._model is not None or self._tower is not None

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
    def _recipe(self) -> PixelRecipe | None:
        return self._lazy("_recipe_cache", lambda: (pixel_recipe(self._image_processor),))[0]

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
            out[i] = prepare_one(image, recipe)
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

        tower = self.tower

        def forward(batch):
            import torch

            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
            if x.dtype == torch.uint8:
                scale, shift = self._normaliser()
                x = x.float() * scale - shift
            if tower is not None:
                return torch.from_numpy(tower(x.numpy()))
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
            had_model = self._model is not None or self._tower is not None
            self._model = self._norm = self._tower = None
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
