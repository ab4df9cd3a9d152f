"""`Item`: one image on its way into the library, and the outcome of each stage it went through.

Every entry point makes Items (a listed file, an uploaded file, a generated image); the stages in
`stages.py` fill them in; the writer turns the good ones into rows. An Item always ends in exactly
one status, so the report's counts add up: seen = indexed + skipped + failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.images import DecodedImage

OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass
class Item:
    uri: str  # where the bytes come from (or, for handed bytes, where the original is kept)
    description: str = ""
    tags: tuple[str, ...] = ()
    mtime: float | None = None  # of the source file, when known
    attributes: dict[str, Any] | None = None
    name: str | None = None  # the file name to store, when it is not the uri's (an upload's own name)
    data: bytes | None = None  # bytes in hand (uploads, generated); dropped once decoded
    status: str = OK
    stage: str = ""  # the stage that failed or skipped it
    reason: str = ""  # one line, for people
    decoded: DecodedImage | None = None  # metadata and thumbnail; its pixels are dropped once prepared
    pixels: np.ndarray | None = field(default=None, repr=False)  # (3, H, W) model input
    vector: np.ndarray | None = field(default=None, repr=False)
    seconds: dict[str, float] = field(default_factory=dict)  # busy time per stage, for the report
    node: str = ""  # the Ray node that decoded it (empty in process)

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def id(self) -> str:
        return self.decoded.id if self.decoded is not None else ""

    def fail(self, stage: str, reason: str) -> None:
        self.status, self.stage, self.reason = FAILED, stage, reason
        self.data = self.pixels = None

    def skip(self, stage: str, reason: str) -> None:
        self.status, self.stage, self.reason = SKIPPED, stage, reason
        self.data = self.pixels = None
