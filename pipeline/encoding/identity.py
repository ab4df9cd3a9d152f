"""What identifies a model independently of the path it was loaded from.

A table records this dict beside the model id, so `../model`, its absolute path, the path with a
trailing slash, a copied folder and the hub id of the same checkpoint all open it, and only a
different model is refused. The fingerprint hashes the config (minus where it was loaded from) and,
cheaply, the weights: each weights file's size, its safetensors header (tensor names, shapes,
dtypes, offsets) and 1 MiB samples at its start, middle and end; hashing gigabytes on every search
would cost seconds, and two different trainings differ in every sampled byte.
"""

from __future__ import annotations

import hashlib
import json
import os

# Config keys that say where or how a checkpoint was saved, not what it computes.
_VOLATILE_KEYS = {"_name_or_path", "transformers_version", "_commit_hash", "torch_dtype", "dtype",
                  "_attn_implementation_autoset", "_attn_implementation"}
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
_SAMPLE = 1 << 20


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in sorted(value.items()) if k not in _VOLATILE_KEYS}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _hash_weights_file(digest, path: str) -> None:
    size = os.path.getsize(path)
    digest.update(f"{os.path.basename(path)}:{size};".encode())
    with open(path, "rb") as handle:
        if path.endswith(".safetensors"):
            header_len = int.from_bytes(handle.read(8), "little")
            if 0 < header_len < 100 << 20:
                digest.update(handle.read(header_len))
        for offset in (0, max(size // 2 - _SAMPLE // 2, 0), max(size - _SAMPLE, 0)):
            handle.seek(offset)
            digest.update(handle.read(_SAMPLE))


def _weights_files(model_id: str, revision: str | None = None) -> list[str]:
    """Local paths of the checkpoint's weights (a directory or the hub cache), shards included."""
    from transformers.utils import cached_file

    for name in _WEIGHT_FILES:
        try:
            path = cached_file(model_id, name, _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False, revision=revision)
        except (OSError, ValueError):
            path = None
        if not path:
            continue
        if name.endswith(".index.json"):
            with open(path, encoding="utf-8") as handle:
                shards = sorted(set(json.load(handle).get("weight_map", {}).values()))
            return [path] + [os.path.join(os.path.dirname(path), shard) for shard in shards]
        return [path]
    return []


def model_identity(model_id: str, config) -> dict:
    """{"name", "architecture", "model_type", "fingerprint"} for a loaded config; fingerprint is None
    when no weights file can be found without downloading (then tables compare by name)."""
    config_dict = _clean(config.to_dict())
    digest = hashlib.sha256(json.dumps(config_dict, sort_keys=True, default=str).encode())
    files = _weights_files(model_id)
    for path in files:
        if os.path.exists(path):
            _hash_weights_file(digest, path)
    name = getattr(config, "_name_or_path", None) or model_id
    architectures = getattr(config, "architectures", None) or [getattr(config, "model_type", None)]
    return {
        "name": model_id if os.path.isdir(os.path.expanduser(model_id)) else name,
        "architecture": architectures[0],
        "model_type": getattr(config, "model_type", None),
        "fingerprint": digest.hexdigest()[:32] if files else None,
    }
