"""The writer: items in, rows committed in large merge-insert commits, every item counted once.

One commit policy for every entry point: rows are held until `commit_every` of them are pending
(or the writer closes), so a bulk job makes few versions and fragments and an upload makes one.
Each commit is durable, so a crashed job loses at most the rows since the last commit; the rerun
finds the rest. Merge-insert skips ids already in the table, so a rerun or a duplicate file never
makes a second row.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Callable, Iterable

from pipeline.ingest.item import FAILED, SKIPPED, Item
from pipeline.ingest.report import IndexReport
from pipeline.ingest.rows import item_row
from store import ImageLibrary

COMMIT_EVERY = 4096  # rows per table version: few versions, bounded memory (~50 MB of thumbnails)


class RowWriter:
    """Feed it items (`write`), then `close()`; counts and stage times go into `report`."""

    def __init__(self, library: ImageLibrary, report: IndexReport, commit_every: int = COMMIT_EVERY,
                 on_commit: Callable[[int, int], None] | None = None):
        self.library, self.report, self.commit_every = library, report, max(1, commit_every)
        self.on_commit = on_commit  # (commits so far, rows indexed so far), after each durable commit
        self.pending: list[dict] = []
        self.written: list[Item] = []  # items whose rows went into a commit
        self.nodes: Counter = Counter()  # decode work per Ray node id
        self.commits = 0

    def write(self, items: Iterable[Item]) -> None:
        report, stage = self.report, self.report.stage_seconds
        for item in items:
            for name, seconds in item.seconds.items():
                stage[name] = stage.get(name, 0.0) + seconds
            if item.node:
                self.nodes[item.node] += 1
            if item.status == SKIPPED:
                report.skipped += 1
            elif item.status == FAILED:
                report.fail(item.uri, item.stage, item.reason)
            else:
                self.pending.append(item_row(item))
                self.written.append(item)
        if len(self.pending) >= self.commit_every:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        result = self.library.add(self.pending)
        self.report.stage_seconds["write"] = self.report.stage_seconds.get("write", 0.0) + time.perf_counter() - t0
        self.report.indexed += result.inserted
        self.report.skipped += result.skipped  # the same content twice within this job, or a racing writer
        self.pending = []
        self.commits += 1
        if self.on_commit:
            self.on_commit(self.commits, self.report.indexed)

    def close(self) -> None:
        self.flush()
        self.report.nodes.update(self.nodes)
