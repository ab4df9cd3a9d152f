"""What an indexing run did: counts that add up, failures with reasons, speed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Failure:
    uri: str
    stage: str  # "read", "decode", "encode" or "write"
    reason: str


@dataclass
class IndexReport:
    seen: int = 0
    indexed: int = 0
    skipped: int = 0  # already in the library (same file unchanged, or same content)
    failed: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def fail(self, uri: str, stage: str, reason: str) -> None:
        self.failed += 1
        self.failures.append(Failure(uri, stage, reason))

    @property
    def images_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (
            f"seen {self.seen}, indexed {self.indexed}, skipped {self.skipped} (already there), "
            f"failed {self.failed} in {self.seconds:.1f} s ({self.images_per_second:.1f} images/s)"
        )

    def as_dict(self) -> dict:
        return {
            "seen": self.seen, "indexed": self.indexed, "skipped": self.skipped,
            "failed": self.failed, "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "failures": [f.__dict__ for f in self.failures],
        }
