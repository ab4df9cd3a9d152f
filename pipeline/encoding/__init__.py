"""Helpers of pipeline.encoder, one job each: pixel recipes, CPU features, model loading and identity.

Like pipeline.encoder itself, nothing here imports ray, lancedb or (at import time) torch."""
