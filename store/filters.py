"""Build `where` filters from structured choices (formats, dates, sizes, tags) plus free SQL.

The dashboard's filter widgets and the CLI share this, so quoting lives in one place. The result is
a plain LanceDB/DataFusion filter string; check it with `ImageLibrary.validate_filter` before use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Sequence


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _timestamp(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return f"timestamp '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"


def parse_tags(text: str) -> list[str]:
    """'beach, Sunset,,beach ' -> ['beach', 'Sunset']: trimmed, empty and repeated tags dropped."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        tag = part.strip()
        if tag:
            seen.setdefault(tag, None)
    return list(seen)


@dataclass
class FilterSpec:
    formats: Sequence[str] = ()
    indexed_from: date | None = None  # inclusive, UTC days
    indexed_to: date | None = None  # inclusive
    min_bytes: int | None = None
    max_bytes: int | None = None
    tags: Sequence[str] = ()  # any of these
    sql: str = ""  # free expression, ANDed with the rest
    extra: list[str] = field(default_factory=list)

    def where(self) -> str | None:
        clauses: list[str] = []
        if self.formats:
            clauses.append("format IN (" + ", ".join(sql_string(f) for f in self.formats) + ")")
        if self.indexed_from:
            clauses.append(f"indexed_at >= {_timestamp(datetime.combine(self.indexed_from, time.min))}")
        if self.indexed_to:
            end = datetime.combine(self.indexed_to + timedelta(days=1), time.min)
            clauses.append(f"indexed_at < {_timestamp(end)}")
        if self.min_bytes is not None:
            clauses.append(f"file_size >= {int(self.min_bytes)}")
        if self.max_bytes is not None:
            clauses.append(f"file_size <= {int(self.max_bytes)}")
        if self.tags:
            clauses.append("array_has_any(tags, [" + ", ".join(sql_string(t) for t in self.tags) + "])")
        if self.sql and self.sql.strip():
            clauses.append(f"({self.sql.strip()})")
        clauses.extend(f"({c})" for c in self.extra)
        return " AND ".join(clauses) or None
