"""User filters: check `where` text a person typed, and build filters from structured choices.

LanceDB (DataFusion) already refuses anything but an expression, but it parses only up to a `;`
and accepts text such as `1=1) OR (1=1` that would change the meaning of a filter we compose
around it (`(user filter) AND NOT id IN (...)`). So a user's filter must be one self-contained
expression: balanced parentheses, closed quotes, no statement separators, no comments, no `$`
(dollar quotes make LanceDB panic), and only functions of bounded output (store/guards.py).

`FilterSpec` turns the dashboard's widgets (formats, dates, sizes, tags) plus free SQL into one
filter string, so quoting lives in one place; check the result with `ImageLibrary.validate_filter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Sequence

from store.errors import InvalidFilterError
from store.guards import check_calls

MAX_FILTER_LENGTH = 4000


def check_filter_text(where: str) -> None:
    """Raise InvalidFilterError (one line, worded like every other bad filter) unless `where` is a
    single, self-contained expression."""
    reason = _structure_problem(where)
    if reason:
        shown = where if len(where) <= 120 else where[:117] + "..."
        raise InvalidFilterError(f"invalid filter {shown!r}: {reason}")


def _structure_problem(where: str) -> str | None:
    if not where or not where.strip():
        return "the filter is empty"
    if len(where) > MAX_FILTER_LENGTH:
        return f"the filter is longer than {MAX_FILTER_LENGTH} characters"
    if "\x00" in where:
        return "the filter contains a NUL character"
    depth = 0
    quote: str | None = None
    masked = []  # the filter with quoted text blanked: what check_calls reads
    i = 0
    while i < len(where):
        ch = where[i]
        masked.append(" " if quote and ch != quote else ch)
        if quote:
            if ch == quote:
                if where[i + 1:i + 2] == quote:  # doubled quote: an escaped quote inside a literal
                    masked.append(" ")
                    i += 1
                else:
                    quote = None
        elif ch == "$":  # $$dollar quotes$$ and $1 parameters make LanceDB panic
            return "'$' is not allowed outside quotes: write strings as 'text'"
        elif ch in ("'", '"'):
            quote = ch
        elif ch == ";":
            return "a filter is one expression: ';' is not allowed outside quotes"
        elif where.startswith("--", i) or where.startswith("/*", i):
            return "comments are not allowed in a filter"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "unbalanced parentheses in the filter: a ')' closes nothing"
        i += 1
    if quote:
        return f"unterminated {quote} quote in the filter"
    if depth:
        return "unbalanced parentheses in the filter: a '(' is never closed"
    check_calls("".join(masked))
    return None


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _timestamp(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return f"timestamp '{moment.strftime('%Y-%m-%d %H:%M:%S')}'"


def date_bounds(value) -> tuple[date | None, date | None]:
    """(first, last) day from a date picker's value: a date, or a tuple of none, one or two dates."""
    if isinstance(value, (tuple, list)):
        return (value[0] if len(value) > 0 else None), (value[1] if len(value) > 1 else None)
    if isinstance(value, date):
        return value, value
    return None, None


# Tags joined with a control character no typed tag contains, so one substring test matches a whole tag.
_TAG_SEPARATOR = "\x1f"


def tags_filter(tags: Sequence[str]) -> str:
    """Rows carrying any of `tags`, ignoring case ("Holiday" finds "holiday"); strpos, not LIKE, so
    a % or _ inside a tag is not a wildcard."""
    joined = f"lower('{_TAG_SEPARATOR}' || array_to_string(tags, '{_TAG_SEPARATOR}') || '{_TAG_SEPARATOR}')"
    return "(" + " OR ".join(
        f"strpos({joined}, {sql_string(_TAG_SEPARATOR + t.lower() + _TAG_SEPARATOR)}) > 0" for t in tags) + ")"


def folder_filter(folder: str) -> str:
    """Rows whose uri lies in `folder` or below it."""
    prefix = folder.rstrip("/") + "/"
    return f"starts_with(uri, {sql_string(prefix)})"


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
    tags: Sequence[str] = ()  # any of these, case-insensitive
    folders: Sequence[str] = ()  # any of these source folders (and their subfolders)
    sql: str = ""  # free expression, ANDed with the rest
    extra: list[str] = field(default_factory=list)
    # Photo metadata (store.schema.PHOTO_FIELDS). A date means its first moment: taken_after is
    # inclusive, taken_before exclusive, so 2019-06-01..2019-09-01 is June, July and August.
    taken_after: date | datetime | None = None
    taken_before: date | datetime | None = None
    camera: str = ""  # case-insensitive part of the make or the model ("iphone", "canon eos")
    place: str = ""  # case-insensitive part of the city, region or country ("lisbon", "portugal")
    has_location: bool | None = None  # True: geotagged only; False: without coordinates only

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
            clauses.append(tags_filter(self.tags))
        if self.folders:
            clauses.append("(" + " OR ".join(folder_filter(f) for f in self.folders) + ")")
        clauses.extend(self._photo_clauses())
        if self.sql and self.sql.strip():
            check_filter_text(self.sql)  # before wrapping: "(1=1) OR (1=1)" would look balanced
            clauses.append(f"({self.sql.strip()})")
        clauses.extend(f"({c})" for c in self.extra)
        return " AND ".join(clauses) or None

    def _photo_clauses(self) -> list[str]:
        clauses = []
        if self.taken_after:
            clauses.append(f"taken_at >= {_timestamp(_moment(self.taken_after))}")
        if self.taken_before:
            clauses.append(f"taken_at < {_timestamp(_moment(self.taken_before))}")
        if self.camera and self.camera.strip():
            clauses.append(_contains_any(("camera_make", "camera_model"), self.camera))
        if self.place and self.place.strip():
            clauses.append(_contains_any(("city", "region", "country"), self.place))
        if self.has_location is not None:
            clauses.append("gps_lat IS NOT NULL" if self.has_location else "gps_lat IS NULL")
        return clauses


def _moment(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time.min)


def _contains_any(columns: Sequence[str], text: str) -> str:
    """Case-insensitive substring match on any column (strpos: no LIKE wildcards to escape)."""
    needle = sql_string(text.strip().lower())
    return "(" + " OR ".join(f"strpos(lower({c}), {needle}) > 0" for c in columns) + ")"
