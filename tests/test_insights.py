"""Filters built from structured choices, and the analytics behind the Library page's charts."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from store import ImageLibrary, InvalidFilterError, insights
from store.filters import FilterSpec, parse_tags

DIM = 8
TODAY = datetime.now(timezone.utc)


def row(i, **overrides):
    base = {"id": f"{i:064x}", "uri": f"/p/{i}.jpg", "file_name": f"{i}.jpg", "format": ["JPEG", "PNG", "GIF"][i % 3],
            "width": 100 * (i + 1), "height": 100, "file_size": 1000 * (i + 1), "tags": ["t" + str(i % 2)],
            "indexed_at": TODAY - timedelta(days=i), "vector": np.random.default_rng(i).normal(size=DIM)}
    base.update(overrides)
    return base


@pytest.fixture
def library(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"))
    lib.ensure("m", DIM)
    lib.add([row(i) for i in range(9)])
    return lib


def test_tags_are_trimmed_and_deduplicated():
    assert parse_tags(" beach, Sunset,,beach ,") == ["beach", "Sunset"]


def test_structured_filters_select_the_right_rows(library):
    def count(**kwargs):
        where = FilterSpec(**kwargs).where()
        library.validate_filter(where)
        return library.count(where)

    assert FilterSpec().where() is None
    assert count(formats=["JPEG", "GIF"]) == 6
    assert count(min_bytes=3000, max_bytes=5000) == 3
    assert count(tags=["t1", "nope"]) == 4
    assert count(tags=["it's"]) == 0  # quotes are escaped
    assert count(indexed_from=(TODAY - timedelta(days=2)).date()) == 3
    assert count(indexed_to=(TODAY - timedelta(days=7)).date()) == 2
    assert count(formats=["PNG"], sql="width > 400") == 2


def test_a_bad_free_sql_filter_is_a_one_line_error(library):
    with pytest.raises(InvalidFilterError) as error:
        library.validate_filter(FilterSpec(formats=["PNG"], sql="widht >").where())
    assert "\n" not in str(error.value)


def test_chart_data_reads_counts_histograms_and_growth(library):
    assert insights.format_counts(library) == {"JPEG": 3, "PNG": 3, "GIF": 3}
    sizes = insights.file_size_histogram(library, bins=4)
    assert sum(b["count"] for b in sizes) == 9 and sizes[0]["low"] == pytest.approx(1000)
    assert sum(b["count"] for b in insights.megapixel_histogram(library)) == 9
    growth = insights.indexed_per_day(library)
    assert [d["total"] for d in growth] == list(range(1, 10)) and growth[-1]["day"] == TODAY.date()
    assert insights.index_status(library)["vector_index"] is None


def test_histogram_of_one_value_and_of_nothing():
    assert insights.histogram([]) == []
    assert [b["count"] for b in insights.histogram([5, 5], bins=2)] == [2, 0]
