"""`--dtype int8` on CPU: the image tower exported to ONNX and dynamically quantised to int8 (weights
int8, activations quantised per batch), run by ONNX Runtime.

Measured on the same 2-core Xeon, ViT-B/32 image tower, batch 32 (docs/models.md): ONNX Runtime int8
2.37x torch fp32 against 1.73x for torch's own dynamic int8, with a higher cosine to fp32 (0.99977
against 0.99953), so it is what int8 means where onnxruntime is installed; torch's dynamic int8
remains the fallback. The export costs seconds (~10 s for ViT-B/32), so the quantised model is kept
in a cache folder keyed by the model's fingerprint (pipeline/encoding/identity.py) and the versions
that produced it: the next run loads it in about a second.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

RECIPE = "1"  # bump when the export or the quantisation below changes: cached files are then rebuilt
OPSET = 17


def available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


CACHE_ENV = "IMAGESEARCH_CACHE_DIR"


def cache_dir() -> Path:
    """Where quantised towers are kept: $IMAGESEARCH_CACHE_DIR/onnx, else
    $XDG_CACHE_HOME/imagesearch/onnx (~/.cache/... by default), beside the Hugging Face cache the
    checkpoints live in. Read like HF_HOME, where the model is loaded, not by pipeline/settings.py:
    the encoder also runs alone on GPU machines and in Ray actors."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser() / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "imagesearch" / "onnx"


class OnnxImageTower:
    """Normalised float32 pixels (n, 3, H, W) -> image features (n, dim), not yet L2-normalised."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = max(1, threads), 1
        options.log_severity_level = 3  # its warnings about unused initialisers are not the user's business
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path

    def __call__(self, pixels: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"pixel_values": np.ascontiguousarray(pixels, dtype=np.float32)})[0]


def tower_path(fingerprint: str, size: tuple[int, int]) -> Path:
    import onnxruntime
    import torch

    versions = f"r{RECIPE}-torch{torch.__version__}-ort{onnxruntime.__version__}".replace("+", "_")
    return cache_dir() / f"{fingerprint}-{size[0]}x{size[1]}-{versions}-image-int8.onnx"


def load_tower(fingerprint: str | None, fresh_model, size: tuple[int, int], threads: int) -> OnnxImageTower:
    """The quantised tower from the cache, or exported now from `fresh_model()` (a torch model not
    used under inference_mode: tensors made there cannot be traced). Without a fingerprint (weights
    not found on disk) nothing is cached: the export goes to a temporary folder."""
    if fingerprint is not None:
        path = tower_path(fingerprint, size)
        if path.exists():
            return OnnxImageTower(path, threads)
        path.parent.mkdir(parents=True, exist_ok=True)
        folder = path.parent
    else:
        folder = Path(tempfile.mkdtemp(prefix="imagesearch-onnx-"))
        path = folder / "image-int8.onnx"
    log.info("int8: exporting the image tower to ONNX Runtime once (~10 s for ViT-B/32), kept at %s", path)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export-") as work:
        fp32 = Path(work) / "tower.onnx"
        export_tower(fresh_model, size, fp32)
        staged = Path(work) / "tower-int8.onnx"
        quantise(fp32, staged)
        os.replace(staged, path)  # atomic: encoder actors exporting at once each write a whole file
    return OnnxImageTower(path, threads)


def export_tower(fresh_model, size: tuple[int, int], target: Path) -> None:
    """The fp32 image tower of `fresh_model()` as ONNX at `target` (batch axis dynamic)."""
    import torch

    from pipeline.encoder import _features

    class Tower(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values):
            return _features(self.inner.get_image_features(pixel_values=pixel_values))

    sample = torch.zeros(2, 3, *size)
    # The legacy TorchScript exporter: the torch.export one needs onnxscript and was not measured. Its
    # deprecation and tracer warnings are about the export, not the user's images. inference_mode is
    # switched off because a caller's would make the weights untraceable.
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        model = fresh_model().eval()
        torch.onnx.export(Tower(model), (sample,), str(target), input_names=["pixel_values"],
                          output_names=["embeds"], dynamic_axes={"pixel_values": {0: "n"}, "embeds": {0: "n"}},
                          dynamo=False, opset_version=OPSET)


class _DropQuantiserChatter(logging.Filter):
    """onnxruntime.quantization logs one INFO line per tensor to the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname.replace(os.sep, "/")


def quantise(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (int8 weights, activations per batch) of an exported tower."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    chatter = _DropQuantiserChatter()
    logging.getLogger().addFilter(chatter)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        logging.getLogger().removeFilter(chatter)
