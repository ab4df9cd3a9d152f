"""Model presets (short names for hub ids) and per-family score scales.

Scores of different families are not comparable: CLIP's text-image cosines of a good match sit
around 0.25-0.35, SigLIP's (trained with a sigmoid loss and a large negative bias) around 0.10-0.20,
so one fixed min-score or relevance cutoff is wrong for one of them. `score_scale` gives the
defaults per family; docs/models.md says where each figure comes from. No torch, no transformers.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    hub_id: str
    family: str  # clip, siglip, chinese_clip
    dim: int
    languages: str
    relative_cpu_cost: float  # image-tower GFLOPs relative to ViT-B/32 at 224 px (4.4)


PRESETS = {p.name: p for p in (
    Preset("clip-b32", "openai/clip-vit-base-patch32", "clip", 512, "English", 1.0),
    Preset("clip-b16", "openai/clip-vit-base-patch16", "clip", 512, "English", 4.0),
    Preset("clip-l14", "openai/clip-vit-large-patch14", "clip", 768, "English", 18.4),
    Preset("siglip-b16", "google/siglip-base-patch16-224", "siglip", 768, "English", 4.0),
    Preset("siglip2-b32", "google/siglip2-base-patch32-256", "siglip", 768, "multilingual", 1.3),
    Preset("siglip2-b16", "google/siglip2-base-patch16-224", "siglip", 768, "multilingual", 4.0),
    Preset("siglip2-l16", "google/siglip2-large-patch16-256", "siglip", 1024, "multilingual", 18.4),
    Preset("chinese-clip-b16", "OFA-Sys/chinese-clip-vit-base-patch16", "chinese_clip", 512, "Chinese", 4.0),
)}


def hub_id(name_or_id: str) -> str:
    """The hub id of a preset name; anything else (hub id, local directory) unchanged."""
    preset = PRESETS.get(name_or_id.strip().lower()) if name_or_id else None
    return preset.hub_id if preset else name_or_id


@dataclass(frozen=True)
class ScoreScale:
    """Defaults that depend on how a family's cosines are spread.

    min_score: text->image results below this are rarely relevant (a default floor, 0 = off);
    cutoff_gap: cut a ranked list where the score drops by more than this below the best hit;
    duplicate_threshold: image<->image cosine at or above which two images are near-duplicates.
    """

    family: str
    min_score: float
    cutoff_gap: float
    duplicate_threshold: float


_SCALES = {
    "clip": ScoreScale("clip", min_score=0.18, cutoff_gap=0.08, duplicate_threshold=0.95),
    "chinese_clip": ScoreScale("chinese_clip", min_score=0.18, cutoff_gap=0.08, duplicate_threshold=0.95),
    "siglip": ScoreScale("siglip", min_score=0.05, cutoff_gap=0.05, duplicate_threshold=0.94),
}


def family_of(model_id: str | None) -> str:
    """clip, siglip or chinese_clip: from the preset, a local directory's config.json, else the name."""
    if not model_id:
        return "clip"
    preset = PRESETS.get(model_id.strip().lower())
    if preset:
        return preset.family
    for p in PRESETS.values():
        if p.hub_id == model_id:
            return p.family
    config = os.path.join(os.path.expanduser(model_id), "config.json")
    if os.path.isfile(config):
        try:
            with open(config, encoding="utf-8") as handle:
                model_type = json.load(handle).get("model_type")
            if model_type in ("siglip", "siglip2"):
                return "siglip"
            if model_type == "chinese_clip":
                return "chinese_clip"
            return "clip"
        except (OSError, ValueError):
            pass
    lowered = model_id.lower()
    if "siglip" in lowered:
        return "siglip"
    if "chinese-clip" in lowered or "chinese_clip" in lowered:
        return "chinese_clip"
    return "clip"


def score_scale(model_id: str | None) -> ScoreScale:
    """Score defaults for the model that made a table's vectors (hub id, preset or local directory)."""
    return _SCALES[family_of(model_id)]
