"""Checks on user-written `where` text before LanceDB parses it.

LanceDB (DataFusion) already refuses anything but an expression, but it parses only up to a `;`
and accepts text such as `1=1) OR (1=1` that would change the meaning of a filter we compose
around it (`(user filter) AND NOT id IN (...)`). So a filter must be one self-contained expression:
balanced parentheses, closed quotes, no statement separators, no comments.
"""

from __future__ import annotations

from store.errors import InvalidFilterError

MAX_FILTER_LENGTH = 4000


def check_filter_text(where: str) -> None:
    """Raise InvalidFilterError (one line) unless `where` is a single, self-contained expression."""
    if not where or not where.strip():
        raise InvalidFilterError("the filter is empty")
    if len(where) > MAX_FILTER_LENGTH:
        raise InvalidFilterError(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    if "\x00" in where:
        raise InvalidFilterError("the filter contains a NUL character")
    depth = 0
    quote: str | None = None
    i = 0
    while i < len(where):
        ch = where[i]
        if quote:
            if ch == quote:
                if where[i + 1:i + 2] == quote:  # doubled quote: an escaped quote inside a literal
                    i += 1
                else:
                    quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == ";":
            raise InvalidFilterError("a filter is one expression: ';' is not allowed outside quotes")
        elif where.startswith("--", i) or where.startswith("/*", i):
            raise InvalidFilterError("comments are not allowed in a filter")
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise InvalidFilterError("unbalanced parentheses in the filter: a ')' closes nothing")
        i += 1
    if quote:
        raise InvalidFilterError(f"unterminated {quote} quote in the filter")
    if depth:
        raise InvalidFilterError("unbalanced parentheses in the filter: a '(' is never closed")
