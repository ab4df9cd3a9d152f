"""What an indexing run did: counts that add up, failures with reasons, speed."""

from __future__ import annotations

from dataclasses import dataclass, field

from store.redact import redact_uri


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
    # Maintenance done by the job (pipeline/ingest/plan.py); zero for plain indexing.
    replaced: int = 0  # rows of changed files re-indexed (--update)
    pruned: int = 0  # rows whose files are gone (--prune)
    stale: int = 0  # changed files left alone (counted in skipped; --update re-indexes them)
    nodes: dict[str, int] = field(default_factory=dict)  # Ray node id -> images decoded there
    error_report: str | None = None  # where the failures were written
    runner: str = ""  # "local" or "ray"
    todo: int = 0  # files the stages were run on (the rest were skipped unread)
    optimized: dict | None = None  # what the post-job optimize did (store.OptimizeReport.to_dict)

    def stage_rates(self, counts: dict[str, int]) -> dict[str, float]:
        """Images per second of busy time per stage (per worker: add workers for the stage's total)."""
        return {stage: round(counts.get(stage, 0) / seconds, 1)
                for stage, seconds in self.stage_seconds.items() if seconds > 0}

    def stage_counts(self) -> dict[str, int]:
        """How many images each stage handled, to turn stage seconds into images/s."""
        failed_read = sum(1 for f in self.failures if f.stage == "read")
        encoded = self.indexed + sum(1 for f in self.failures if f.stage == "encode")
        return {"read": self.todo, "decode": self.todo - failed_read,
                "encode": max(encoded, self.indexed), "write": self.indexed}

    def fail(self, uri: str, stage: str, reason: str) -> None:
        self.failed += 1
        self.failures.append(Failure(redact_uri(uri), stage, redact_uri(reason)))

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
            "replaced": self.replaced, "pruned": self.pruned, "stale": self.stale,
            "nodes": dict(self.nodes), "error_report": self.error_report,
            "runner": self.runner, "optimized": self.optimized,
        }


def write_failures(report: IndexReport, db_uri: str, table: str, storage_options: dict | None = None) -> str | None:
    """Write one JSON line per failure (uri, stage, reason) to <db>/<table>.errors/<UTC time>.jsonl.

    Local databases get a plain file; s3:// databases an object beside the table. Returns the path."""
    import json
    from datetime import datetime, timezone

    if not report.failures:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = f"{db_uri.rstrip('/')}/{table}.errors/{stamp}.jsonl"
    text = "".join(json.dumps(f.__dict__) + "\n" for f in report.failures).encode()
    if path.startswith("s3://"):
        from pipeline.filesystems import s3_filesystem, s3_path

        with s3_filesystem(storage_options).open_output_stream(s3_path(path)) as out:
            out.write(text)
    else:
        import os

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(text)
    report.error_report = redact_uri(path)
    return report.error_report
