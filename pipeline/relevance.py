"""The relevance cutoff: drop the tail of a text search that sits far below its best hit.

Cosine similarities between a text and an image depend on the model: CLIP's sit near 0.2-0.35,
SigLIP's lower, so a fixed `--min-score` that suits one model drops everything with another. The
rule here is relative: keep a hit when its similarity is at least `best - gap`, where `best` is the
query's top similarity (after filters) and `gap` belongs to the model family. Relevant images of a
query cluster just under its best hit; unrelated ones sit a clear margin lower, and without a rule
they fill every page past the last relevant image. The CLIP gap was chosen on a labelled set of
synthetic CLIP-shaped vectors (benchmarks/hybrid_bench.py, README "Relevance cutoff"), not on real
weights: re-measure it when real weights and labels are at hand.

It applies to text-only queries (image and "more like this" queries compare image to image, a
different scale), to the semantic side only (a keyword hit matched the words: that is its evidence),
and `cutoff=False` (`--no-cutoff`) switches it off.
"""

from __future__ import annotations

import logging
from typing import Sequence

log = logging.getLogger(__name__)

CLIP_GAP = 0.08  # chosen on the labelled set: see the module docstring
# Per-family gaps, matched on the model id, for families whose text-image cosines have another spread.
# SigLIP's sigmoid-trained cosines sit lower and closer together: 0.6x is an unmeasured estimate until
# the models' presets (score_scale) give a measured one.
FAMILY_GAPS = {"siglip": CLIP_GAP * 0.6}


def cutoff_gap(model_id: str | None) -> float:
    """How far below the best hit a text search's results may fall for `model_id`."""
    scale = _preset_scale(model_id)
    if scale is not None:
        return CLIP_GAP * scale
    name = (model_id or "").lower()
    return next((gap for family, gap in FAMILY_GAPS.items() if family in name), CLIP_GAP)


def _preset_scale(model_id: str | None) -> float | None:
    """The hook for per-model presets: `pipeline.presets.score_scale(model_id)`, when it exists, says
    how wide the model's text-image cosine spread is relative to CLIP ViT-B/32's (1.0 for CLIP)."""
    try:
        from pipeline.presets import score_scale
    except ImportError:
        return None
    try:
        scale = score_scale(model_id)
    except Exception as error:  # noqa: BLE001 - a preset problem must not break search
        log.debug("score_scale(%r) failed: %s", model_id, error)
        return None
    return float(scale) if isinstance(scale, (int, float)) and scale > 0 else None


def relevance_cutoff(hits: Sequence[dict], model_id: str | None, key: str = "score") -> tuple[list[dict], int]:
    """(hits kept, how many were dropped): keep those with hit[key] >= best - gap."""
    if not hits:
        return [], 0
    floor = max(h[key] for h in hits) - cutoff_gap(model_id)
    kept = [h for h in hits if h[key] >= floor]
    return kept, len(hits) - len(kept)
