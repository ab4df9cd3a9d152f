"""A user's `where` text can only filter: anything else is a one-line refusal."""

import numpy as np
import pytest

from store import ImageLibrary, InvalidFilterError
from store.filters import FilterSpec, check_filter_text


@pytest.fixture
def library(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"))
    lib.ensure("m", 4)
    lib.add([{"id": f"{i:064x}", "uri": f"/p/{i}.jpg", "description": "a;b" if i == 0 else "x",
              "format": "PNG" if i % 2 else "JPEG", "vector": np.eye(4)[i % 4]} for i in range(6)])
    return lib


@pytest.mark.parametrize("where", [
    "format = 'PNG'",
    "description = 'a;b'",            # ; inside a literal is data
    "description = 'it''s -- fine'",  # doubled quote and -- inside a literal
    "(format = 'PNG') AND (width IS NULL OR width > 10)",
])
def test_plain_filters_pass(where):
    check_filter_text(where)


@pytest.mark.parametrize("where, reason", [
    ("format = 'PNG'; DROP TABLE images", "';' is not allowed"),
    ("1=1) OR (1=1", "closes nothing"),
    ("(format = 'PNG'", "never closed"),
    ("format = 'PNG", "unterminated"),
    ("true -- AND id = 'x'", "comments"),
    ("true /* x */", "comments"),
    ("   ", "empty"),
    ("x" * 5000, "longer than"),
])
def test_filters_that_could_escape_their_parentheses_are_refused(where, reason):
    with pytest.raises(InvalidFilterError, match=reason):
        check_filter_text(where)


@pytest.mark.parametrize("where", [
    "id IN (SELECT id FROM images)",
    "read_csv('/etc/passwd') IS NOT NULL",
    "DELETE FROM images",
    "format = = 'PNG'",
    "no_such_column = 1",
])
def test_the_library_refuses_non_filters_with_one_line(library, where):
    with pytest.raises(InvalidFilterError) as caught:
        library.count(where)
    assert "\n" not in str(caught.value)
    assert library.count() == 6


def test_a_hostile_filter_cannot_widen_a_delete(library):
    with pytest.raises(InvalidFilterError):
        library.delete(where="format = 'PNG') OR (1=1")
    assert library.count() == 6
    assert library.delete(where="description = 'a;b'") == 1


def test_photo_filters_build_quoted_case_insensitive_clauses_that_compose_with_sql():
    from datetime import date

    spec = FilterSpec(taken_after=date(2019, 6, 1), taken_before=date(2019, 9, 1), camera="O'Brien Cam",
                      place="Lisbon", has_location=True, sql="width > 10")
    where = spec.where()
    assert "taken_at >= timestamp '2019-06-01 00:00:00'" in where and "taken_at < timestamp '2019-09-01 00:00:00'" in where
    assert "strpos(lower(camera_model), 'o''brien cam') > 0" in where
    assert "strpos(lower(city), 'lisbon') > 0" in where and "gps_lat IS NOT NULL" in where
    assert where.endswith("(width > 10)")
    assert FilterSpec(has_location=False).where() == "gps_lat IS NULL"
    assert FilterSpec(camera="  ").where() is None


@pytest.mark.parametrize("where", [
    "length(repeat(file_name, 100000000)) > 0",
    "lpad(file_name, 10000000000) = 'x'",
    "length(replace(replace(file_name, '', 'xxxxxxxx'), '', 'xxxxxxxx')) > 0",
    "\"repeat\"(file_name, 3) = 'x'",
    "array_length(array_repeat(1, 1000000000)) > 0",
])
def test_filters_that_could_allocate_without_bound_are_refused_before_they_run(library, where):
    with pytest.raises(InvalidFilterError, match="not allowed in a filter|cannot be called") as caught:
        library.count(where)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("where", [
    "array_has(tags, 'x') AND lower(file_name) LIKE 'a%'",
    "length(description) > 0 OR starts_with(uri, '/p/') OR date_part('year', indexed_at) > 2000",
    "description = 'repeat(x, 10)'",  # a function name inside a literal is data
    "coalesce(width, 0) >= 0 AND abs(-1) = 1",
])
def test_everyday_filter_functions_still_work(library, where):
    assert library.count(where) >= 0


def test_dollar_quoted_strings_are_a_one_line_refusal_not_a_rust_panic(library):
    for where in ("file_name = $$abc$$", "file_name = $1"):
        with pytest.raises(InvalidFilterError, match="'\\$' is not allowed"):
            library.count(where)
        with pytest.raises(InvalidFilterError):
            library.delete(where=where)
    assert library.count() == 6 and library.count("description = 'cost: $5'") == 0
