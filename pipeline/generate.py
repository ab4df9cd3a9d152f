"""Text-to-image generation with diffusers: Stable Diffusion 1.x/2.x, SD-Turbo and SDXL by hub id or
local directory, loaded lazily through `AutoPipelineForText2Image`.

One generation runs at a time per process (a module-level lock shared by every `Generator`), so
two dashboard users cannot exhaust GPU memory together; `busy` lets a UI say that it is waiting.
Every image gets its own seed (seed + index) drawn from a CPU generator, so an image is
reproducible alone, on any device, from the seed stored with it.

Like pipeline/encoder.py this imports no ray/lancedb/streamlit, and torch/diffusers only on first use.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any, Callable

from pipeline.encoder import ModelUnavailableError, _resolve_device
from pipeline.errors import BadInputError

log = logging.getLogger(__name__)

DEFAULT_SD_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SD_MODEL_ENV = "IMAGESEARCH_SD_MODEL"
MAX_SEED = 2**32 - 1
# Name -> diffusers scheduler class; each is built from the model's own scheduler config.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler-a": "EulerAncestralDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "dpm++-karras": "DPMSolverMultistepScheduler",
    "lms": "LMSDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}
_DTYPES = {"fp32": "float32", "float32": "float32", "fp16": "float16", "float16": "float16",
           "half": "float16", "bf16": "bfloat16", "bfloat16": "bfloat16"}
_SMALL_GPU_BYTES = 8 * 1024**3  # below this, attention slicing is on unless told otherwise


class GeneratorUnavailableError(ModelUnavailableError):
    """The diffusion model cannot be loaded; the message is one sentence with the fix."""


def resolve_sd_model(explicit: str | None = None) -> str:
    return explicit or DEFAULT_SD_MODEL


def _unavailable(model_id: str, exc: BaseException | None = None) -> GeneratorUnavailableError:
    reason = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else ""
    if os.path.isdir(os.path.expanduser(model_id)):
        msg = (f"Cannot load diffusion model '{model_id}': the directory is not a saved diffusers pipeline"
               f"{f' ({reason})' if reason else ''}; set {SD_MODEL_ENV} to a directory with a model_index.json.")
    elif model_id.startswith((os.sep, ".", "~")) or model_id.count("/") > 1:
        msg = (f"Cannot load diffusion model '{model_id}': the directory does not exist; "
               f"set {SD_MODEL_ENV} to a local diffusers directory or a Hugging Face hub id.")
    else:
        msg = (f"Cannot load diffusion model '{model_id}': weights are not in the local cache and there is no "
               f"internet; download them once (hf download {model_id}) "
               f"or set {SD_MODEL_ENV} to a local diffusers directory.")
    return GeneratorUnavailableError(msg)


@dataclass(frozen=True)
class GenerationParams:
    """What to generate. width/height None means the model's native size (512 for SD 1.5, 1024 for SDXL)."""

    prompt: str
    negative_prompt: str = ""
    steps: int = 25
    guidance: float = 7.5
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    n: int = 1

    def validate(self) -> "GenerationParams":
        """Raise ValueError with a one-line message on bad input; return self so calls chain."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise BadInputError("prompt must not be empty")
        if not isinstance(self.negative_prompt, str):
            raise BadInputError("negative prompt must be text")
        if not _is_int(self.steps) or not 1 <= self.steps <= 150:
            raise BadInputError(f"steps must be a whole number from 1 to 150, got {self.steps!r}")
        if isinstance(self.guidance, bool) or not isinstance(self.guidance, (int, float)) \
                or not 0 <= self.guidance <= 30:
            raise BadInputError(f"guidance must be a number from 0 to 30, got {self.guidance!r}")
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or not 64 <= value <= 2048 or value % 8):
                raise BadInputError(f"{name} must be a multiple of 8 from 64 to 2048, got {value!r}")
        if not _is_int(self.n) or not 1 <= self.n <= 8:
            raise BadInputError(f"number of images must be from 1 to 8, got {self.n!r}")
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED - 8):
            raise BadInputError(f"seed must be a whole number from 0 to {MAX_SEED - 8}, got {self.seed!r}")
        return self

    def with_seed(self) -> "GenerationParams":
        """These parameters with a concrete seed (a random one if none was given), so results are reproducible."""
        return self if self.seed is not None else replace(self, seed=secrets.randbelow(MAX_SEED - 8))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_size(text: str) -> tuple[int, int]:
    """"512x768" -> (512, 768); ValueError with a one-line message otherwise."""
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise BadInputError(f"size must look like WIDTHxHEIGHT, e.g. 512x512, got {text!r}")
    return int(parts[0]), int(parts[1])


@dataclass
class GeneratedImage:
    image: Any  # PIL.Image.Image
    seed: int  # this image's own seed: generate(replace(params, seed=seed, n=1)) makes it again
    params: GenerationParams  # as requested, with the concrete base seed
    model: str = ""
    scheduler: str = ""
    nsfw: bool = False  # flagged by the model's safety checker (the image is then blacked out)
    attributes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        single = replace(self.params, seed=self.seed, n=1)
        self.attributes = {**asdict(single), "width": self.image.width, "height": self.image.height,
                           "model": self.model, "scheduler": self.scheduler}

    @cached_property
    def png(self) -> bytes:
        """PNG bytes with the generation parameters in a text chunk; same parameters, same bytes."""
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("imagesearch:generation", json.dumps(self.attributes, sort_keys=True))
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG", pnginfo=info)
        return buffer.getvalue()


_GENERATION_LOCK = threading.Lock()


def generation_busy() -> bool:
    """Whether a generation is running in this process right now."""
    return _GENERATION_LOCK.locked()


class Generator:
    """A lazily loaded diffusers text-to-image pipeline; safe to share between threads.

    device "auto" picks cuda, then mps, then cpu; dtype "auto" is fp16 on cuda and fp32 elsewhere.
    attention_slicing None turns it on for GPUs under 8 GiB and on mps. cpu_offload keeps each
    sub-model on the CPU until it runs (needs accelerate and a GPU; ignored on CPU).
    """

    def __init__(self, model: str | None = None, device: str = "auto", dtype: str = "auto",
                 scheduler: str | None = None, attention_slicing: bool | None = None, cpu_offload: bool = False):
        if dtype != "auto" and dtype not in _DTYPES:
            raise BadInputError(f"unknown dtype {dtype!r}: use auto, fp32, fp16 or bf16")
        if scheduler is not None and scheduler not in SCHEDULERS:
            raise BadInputError(f"unknown scheduler {scheduler!r}: use one of {', '.join(SCHEDULERS)}")
        self.model_id = resolve_sd_model(model)
        self.scheduler_name = scheduler
        self._requested = (device, dtype, attention_slicing, cpu_offload)
        self._load_lock = threading.Lock()
        self._pipe = None

    @classmethod
    def from_settings(cls, settings, **overrides) -> "Generator":
        """The generator that `settings` (pipeline.settings.Settings) describe; `overrides` win when not None."""
        chosen = dict(model=settings.sd_model, device=settings.device, dtype=settings.sd_dtype,
                      scheduler=settings.sd_scheduler, attention_slicing=settings.sd_attention_slicing,
                      cpu_offload=settings.sd_cpu_offload)
        chosen.update({k: v for k, v in overrides.items() if v is not None})
        return cls(chosen.pop("model"), **chosen)

    @property
    def busy(self) -> bool:
        return generation_busy()

    @property
    def is_loaded(self) -> bool:
        return self._pipe is not None

    def check_available(self) -> None:
        """Raise GeneratorUnavailableError unless the pipeline's files are on disk (or downloadable); loads nothing."""
        path = os.path.expanduser(self.model_id)
        if os.path.isdir(path):
            if not os.path.isfile(os.path.join(path, "model_index.json")):
                raise _unavailable(self.model_id)
            return
        try:
            from huggingface_hub import hf_hub_download, try_to_load_from_cache

            if isinstance(try_to_load_from_cache(self.model_id, "model_index.json"), str):
                return
            hf_hub_download(self.model_id, "model_index.json")  # raises offline / unknown repo
        except Exception as exc:  # noqa: BLE001 - hub errors, offline errors, bad repo ids
            raise _unavailable(self.model_id, exc) from exc

    @property
    def pipe(self):
        if self._pipe is None:
            with self._load_lock:
                if self._pipe is None:
                    self._pipe = self._load()
        return self._pipe

    def _load(self):
        import torch
        from diffusers import AutoPipelineForText2Image
        from diffusers.utils import logging as diffusers_logging

        if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS", "").lower() in ("1", "true"):
            diffusers_logging.disable_progress_bar()  # diffusers' loading bar ignores the hub's switch
        device_req, dtype_req, slicing, offload = self._requested
        device = _resolve_device(device_req)
        on_cpu = device.startswith("cpu")
        dtype_name = _DTYPES.get(dtype_req) or ("float16" if device.startswith("cuda") else "float32")
        if on_cpu and dtype_name == "float16":
            raise BadInputError("fp16 is not supported on CPU; use dtype bf16 or fp32")
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(self.model_id, dtype=getattr(torch, dtype_name))
        except (OSError, ValueError) as exc:  # missing files and offline hub are OSError
            raise _unavailable(self.model_id, exc) from exc
        if self.scheduler_name:
            import diffusers

            cls = getattr(diffusers, SCHEDULERS[self.scheduler_name])
            extra = {"use_karras_sigmas": True} if self.scheduler_name.endswith("karras") else {}
            pipe.scheduler = cls.from_config(pipe.scheduler.config, **extra)
        if offload and not on_cpu:
            pipe.enable_model_cpu_offload(device=device)  # needs accelerate; moves sub-models on demand
        else:
            if offload:
                log.warning("cpu offload needs a GPU; running on %s without it", device)
            pipe = pipe.to(device)
        if slicing is None:
            slicing = device.startswith("mps") or (
                device.startswith("cuda") and torch.cuda.get_device_properties(0).total_memory < _SMALL_GPU_BYTES)
        if slicing:
            pipe.enable_attention_slicing()
        pipe.set_progress_bar_config(disable=True)  # progress is reported through on_step
        log.info("loaded %s (%s) on %s as %s", self.model_id, type(pipe).__name__, device, dtype_name)
        return pipe

    def native_size(self) -> tuple[int, int]:
        """The model's default (width, height): the UNet's sample size times the VAE scale factor."""
        pipe = self.pipe
        side = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        return side, side

    def generate(self, params: GenerationParams, on_step: Callable[[int, int], None] | None = None,
                 on_wait: Callable[[], None] | None = None) -> list[GeneratedImage]:
        """Generate params.n images. on_step(done, total) after each denoising step; on_wait() once if
        another generation holds the process-wide lock (this call then waits for it)."""
        params = params.validate().with_seed()
        if not _GENERATION_LOCK.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            _GENERATION_LOCK.acquire()
        try:
            return self._generate_locked(params, on_step)
        finally:
            _GENERATION_LOCK.release()

    def _generate_locked(self, params: GenerationParams, on_step) -> list[GeneratedImage]:
        import torch

        pipe = self.pipe
        native_w, native_h = self.native_size()
        width, height = params.width or native_w, params.height or native_h
        seeds = [params.seed + i for i in range(params.n)]

        def step_end(pipeline, step, timestep, callback_kwargs):
            if on_step is not None:
                on_step(step + 1, int(getattr(pipeline, "num_timesteps", params.steps) or params.steps))
            return callback_kwargs

        with torch.inference_mode():
            output = pipe(
                prompt=params.prompt, negative_prompt=params.negative_prompt or None,
                num_inference_steps=params.steps, guidance_scale=float(params.guidance),
                width=width, height=height, num_images_per_prompt=params.n,
                generator=[torch.Generator("cpu").manual_seed(s) for s in seeds],
                callback_on_step_end=step_end,
            )
        flags = getattr(output, "nsfw_content_detected", None) or [False] * len(output.images)
        scheduler = type(pipe.scheduler).__name__
        return [GeneratedImage(image=image, seed=seed, params=params, model=self.model_id,
                               scheduler=scheduler, nsfw=bool(flag))
                for image, seed, flag in zip(output.images, seeds, flags)]

    def release(self) -> None:
        """Drop the pipeline (frees GPU memory); the next generate loads it again."""
        with self._load_lock:
            self._pipe = None
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
