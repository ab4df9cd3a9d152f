"""What a user's filter may call: functions whose result is no bigger than their input.

A filter runs inside the process that serves everyone (the dashboard, the API). One call such as
`repeat(file_name, 100000000)`, `lpad(x, 10^10)` or a nest of `replace(x, '', 'xxxx')` asks
DataFusion for tens of gigabytes, and the Rust allocator aborts the whole process: no exception,
no clean error. So names followed by `(` must be on this list; everything here returns a value of
bounded size (a boolean, a number, a date, or a string/array no longer than its input).
"""

from __future__ import annotations

import re

from store.errors import InvalidFilterError

# SQL words that may precede a '(' without being a function call.
KEYWORDS = frozenset({
    "and", "or", "not", "in", "is", "between", "like", "ilike", "case", "when", "then", "else", "end",
    "cast", "try_cast", "as", "null", "true", "false", "distinct", "from", "similar", "to",
})

SAFE_FUNCTIONS = frozenset({
    # lists (tags)
    "array_has", "array_has_any", "array_has_all", "array_contains", "array_length", "array_position",
    "array_element", "array_empty", "empty", "cardinality", "list_has", "list_has_any", "list_has_all",
    "list_contains", "list_length", "list_position", "list_element",
    # strings: results no longer than the input
    "length", "char_length", "character_length", "octet_length", "bit_length", "lower", "upper", "trim",
    "array_to_string",  # joins the list it is given: output bounded by the row (case-insensitive tag filters)
    "btrim", "ltrim", "rtrim", "starts_with", "ends_with", "strpos", "instr", "position", "substr",
    "substring", "left", "right", "reverse", "initcap", "split_part", "contains", "regexp_like",
    "regexp_match", "regexp_count", "levenshtein", "ascii", "md5", "sha256",
    # numbers, nulls, conditions
    "abs", "round", "floor", "ceil", "trunc", "sqrt", "ln", "log", "log2", "log10", "exp", "power", "pow",
    "mod", "signum", "greatest", "least", "coalesce", "nullif", "ifnull", "nvl", "isnan", "iszero",
    "random",
    # dates and times
    "date_part", "datepart", "date_trunc", "datetrunc", "extract", "now", "current_date",
    "current_timestamp", "current_time", "to_timestamp", "to_timestamp_seconds", "to_timestamp_millis",
    "to_timestamp_micros", "to_date", "to_unixtime", "from_unixtime", "make_date", "timestamp", "date",
    "arrow_cast", "arrow_typeof",
})

_CALL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*|")\s*\(')


def check_calls(masked: str) -> None:
    """Raise InvalidFilterError unless every `name(` is a keyword or a safe function.

    `masked` is the filter with the inside of every quoted literal or identifier blanked out, so
    text in a string is data, never a call; a quoted name used as a function (`"repeat"(...)`) is
    refused outright."""
    for match in _CALL.finditer(masked):
        name = match.group(1)
        if name == '"':
            raise InvalidFilterError("a quoted name cannot be called as a function in a filter")
        if name.lower() not in KEYWORDS and name.lower() not in SAFE_FUNCTIONS:
            raise InvalidFilterError(
                f"function {name}() is not allowed in a filter (it could use unbounded memory, or is "
                "not a filter function); use comparisons, LIKE, IN, array_has, lower, length, substr, "
                "date_part and similar"
            )
