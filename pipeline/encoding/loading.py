"""Loading a checkpoint: transformers imported once under a lock, one-line errors, supported families.

transformers resolves names lazily on first attribute access; several threads doing their first
`from transformers import AutoConfig` at once can see a half-initialised module (ImportError
"cannot import name 'AutoConfig'"), so every import and load here goes through one lock.
"""

from __future__ import annotations

import os
import threading

from pipeline.errors import ModelUnavailableError  # one hierarchy (pipeline/errors.py)

MODEL_ENV = "IMAGESEARCH_MODEL"
# One lock for the whole process: two encoders racing on first use import the same modules.
LOAD_LOCK = threading.RLock()

# model_type -> family. Fixed-resolution SigLIP2 checkpoints (google/siglip2-*-patch16-224 ...)
# are model_type "siglip" with a Gemma tokenizer; "siglip2" is the NaFlex variant.
FAMILIES = {"clip": "clip", "chinese_clip": "chinese_clip", "siglip": "siglip"}
REFUSED = {
    "siglip2": "SigLIP2 NaFlex checkpoints take a variable number of patches per image (pixel masks and "
               "spatial shapes), which batched uint8 encoding does not support; use a fixed-resolution "
               "SigLIP2 checkpoint instead (e.g. google/siglip2-base-patch16-224, preset siglip2-b16)",
}


def import_transformers():
    """The transformers module, fully imported (under the lock, so racing first uses are safe)."""
    with LOAD_LOCK:
        import torch  # noqa: F401 (transformers imports it lazily too)
        import transformers as module
        from transformers import AutoConfig, AutoModel, AutoProcessor  # noqa: F401 (resolve lazy names now)

        return module


def unavailable(model_id: str, exc: BaseException) -> ModelUnavailableError:
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


def load(model_id: str, loader, **kwargs):
    try:
        with LOAD_LOCK:
            return loader(model_id, **kwargs)
    except (OSError, ValueError) as exc:  # hub/offline errors are OSError; bad repo ids are ValueError
        raise unavailable(model_id, exc) from exc


def check_family(model_id: str, config) -> str:
    """The family of a loaded config, or a one-line ModelUnavailableError for one we cannot run."""
    model_type = getattr(config, "model_type", None)
    if model_type in REFUSED:
        raise ModelUnavailableError(f"Cannot use model '{model_id}': {REFUSED[model_type]}.")
    if model_type not in FAMILIES:
        raise ModelUnavailableError(
            f"Cannot use model '{model_id}': model type '{model_type}' is not a CLIP, SigLIP or "
            f"Chinese-CLIP checkpoint; set {MODEL_ENV} to one of those (see docs/models.md).")
    return FAMILIES[model_type]
