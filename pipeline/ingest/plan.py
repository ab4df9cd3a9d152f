"""List stage, on the driver: diff the listed sources against the table before any byte is read.

Shared by both runners so `--runner ray` and `--runner local` index the same files:
- a known uri with the same size and mtime is skipped unread (rclip's rule, `unchanged`);
- a known uri whose size or mtime changed is left alone, unless `update`: then its old row is
  deleted before the job and the file is indexed again (a crash in between only means the rerun
  sees it as new);
- with `prune`, rows under a walked folder or s3 prefix whose file the walk would list but did not
  find are removed before the job (pipeline/prune.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.prune import gone_ids
from pipeline.sources import Listing, Source


def unchanged(source: Source, fingerprints: dict) -> bool:
    """Same uri, size and mtime as the stored row: skip without reading the bytes (as rclip does)."""
    known = fingerprints.get(source.uri)
    if known is None or source.size is None or source.mtime is None:
        return False
    size, mtime, _ = known
    if size != source.size or mtime is None:
        return False
    stored = mtime.timestamp() if isinstance(mtime, datetime) else float(mtime)
    return abs(stored - source.mtime) < 1e-3


@dataclass
class Plan:
    todo: list[Source]
    seen: int = 0
    unchanged: int = 0  # skipped unread
    duplicates: int = 0  # the same uri listed twice
    stale: list[str] = field(default_factory=list)  # changed files left alone (no update)
    replace_ids: list[str] = field(default_factory=list)  # old rows of changed files (update)
    gone_ids: list[str] = field(default_factory=list)  # rows whose file is gone (prune)
    known_ids: list[str] = field(default_factory=list)  # every id in the table after replacing


def plan_index(listing: Listing, fingerprints: dict, update: bool = False, prune: bool = False) -> Plan:
    plan = Plan(todo=[], seen=len(listing.sources))
    listed: set[str] = set()
    for source in listing.sources:
        if source.uri in listed:
            plan.duplicates += 1
            continue
        listed.add(source.uri)
        known = fingerprints.get(source.uri)
        if known is None:
            plan.todo.append(source)
        elif unchanged(source, fingerprints):
            plan.unchanged += 1
        elif update:
            plan.replace_ids.append(known[2])
            plan.todo.append(source)
        else:
            plan.stale.append(source.uri)
    if prune and listing.roots:
        plan.gone_ids = gone_ids(fingerprints, listed, listing.roots, listing.recursive)
    dropped = set(plan.replace_ids) | set(plan.gone_ids)  # both are deleted before the job
    plan.known_ids = [row_id for _, _, row_id in fingerprints.values() if row_id not in dropped]
    return plan
