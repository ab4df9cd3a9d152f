"""Read list files (.txt/.lst: one uri a line; .csv: a `uri` column, optional `description` and
`tags`) line by line, so one bad line fails alone, named by file and line number.

Each physical line is one entry: a CSV field cannot span lines, so an unterminated quote fails its
own line instead of silently swallowing the next rows into a description. A line that is not
UTF-8, holds a NUL byte or does not parse becomes a `BadLine`; the rest of the file is indexed.
Parquet files have no lines and are read whole (pipeline/sources.py).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class BadLine:
    where: str  # "path:line"
    reason: str


Entry = tuple[str, str, str | None]  # uri, description, tags text (None: no tags column)


def _lines(path: str) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, None) or (line number, None, reason), BOM and line ends stripped."""
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, None, f"not UTF-8 text (byte {error.start + 1})"
                continue
            if "\x00" in text:
                yield number, None, "contains a NUL byte"
                continue
            yield number, text, None


def read_text_list(path: str) -> tuple[list[tuple[int, str]], list[BadLine]]:
    """(line number, uri) per non-empty, non-comment line, and the lines that failed."""
    entries, bad = [], []
    for number, text, reason in _lines(path):
        if reason:
            bad.append(BadLine(f"{path}:{number}", reason))
        elif text.strip() and not text.strip().startswith("#"):
            entries.append((number, text.strip()))
    return entries, bad


def read_csv_list(path: str) -> tuple[list[tuple[int, Entry]], list[BadLine]]:
    """(line number, (uri, description, tags)) per data row, and the lines that failed.
    Raises ValueError when the header has no `uri` column (nothing in the file can be used)."""
    entries, bad, header = [], [], None
    for number, text, reason in _lines(path):
        where = f"{path}:{number}"
        if reason:
            bad.append(BadLine(where, reason))
            continue
        if not text.strip():
            continue
        try:
            fields = next(csv.reader([text], strict=True))
        except csv.Error as error:  # strict: an unterminated quote is "unexpected end of data"
            bad.append(BadLine(where, f"cannot parse the CSV line: {error}"))
            continue
        if header is None:
            header = [h.strip() for h in fields]
            if "uri" not in header:
                raise ValueError(f"list file {path} has no 'uri' column (has: {', '.join(header)})")
            continue
        if len(fields) > len(header):
            bad.append(BadLine(where, f"{len(fields)} fields, the header has {len(header)}"))
            continue
        row = dict(zip(header, fields))
        uri = (row.get("uri") or "").strip()
        if uri:
            entries.append((number, (uri, row.get("description") or "", row.get("tags"))))
    return entries, bad
