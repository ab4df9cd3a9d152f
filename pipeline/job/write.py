"""Write stage, on the driver: encoded batches -> rows -> one merge-insert commit per many rows.

Commits are large (thousands of rows, never one version per image) and each is durable, so a
crashed job loses at most the rows since the last commit; the rerun finds the rest. Merge-insert
skips ids already in the table, so a rerun or a duplicate file never makes a second row.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter

import numpy as np

from pipeline.images import DecodedImage
from pipeline.report import IndexReport
from pipeline.rows import image_row
from store import ImageLibrary

COMMIT_EVERY = 4096  # rows per table version: few versions, bounded driver memory (~50 MB of thumbnails)


class RowWriter:
    """Feed it encoded batches (`write`), then `close()`; counts go into `report`."""

    def __init__(self, library: ImageLibrary, report: IndexReport, commit_every: int = COMMIT_EVERY):
        self.library, self.report, self.commit_every = library, report, max(1, commit_every)
        self.pending: list[dict] = []
        self.nodes: Counter = Counter()  # decode work per Ray node id
        self.commits = 0

    def write(self, batch: dict) -> None:
        report, stage = self.report, self.report.stage_seconds
        for key in ("read_s", "decode_s", "encode_s"):
            if key in batch:
                stage[key[:-2]] = stage.get(key[:-2], 0.0) + float(np.sum(batch[key]))
        for i, status in enumerate(batch["status"]):
            self.nodes[str(batch["node"][i])] += 1
            if status == "skipped":
                report.skipped += 1
            elif status == "failed":
                report.fail(str(batch["uri"][i]), str(batch["stage"][i]), str(batch["reason"][i]))
            else:
                self.pending.append(_row(batch, i))
        if len(self.pending) >= self.commit_every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        result = self.library.add(self.pending)
        self.report.stage_seconds["write"] = self.report.stage_seconds.get("write", 0.0) + time.perf_counter() - t0
        self.report.indexed += result.inserted
        self.report.skipped += result.skipped  # the same content twice within this job
        self.pending = []
        self.commits += 1

    def close(self) -> None:
        self.flush()


def _row(batch: dict, i: int) -> dict:
    decoded = DecodedImage(
        uri=str(batch["uri"][i]), image=None, id=str(batch["id"][i]), file_name=str(batch["file_name"][i]),
        width=int(batch["width"][i]), height=int(batch["height"][i]), format=str(batch["format"][i]),
        file_size=int(batch["file_size"][i]), thumbnail=batch["thumbnail"][i],
        metadata=json.loads(str(batch["metadata_json"][i])),
    )
    mtime = float(batch["mtime"][i])
    return image_row(decoded, batch["vector"][i], description=str(batch["description"][i]),
                     tags=json.loads(str(batch["tags"][i]) or "[]"),
                     mtime=None if math.isnan(mtime) else mtime)
