"""Editing rows after indexing, the described history, and the filters people type into the dashboard."""

import pytest

from store import ImageLibrary, ReadOnlyError
from store.edits import FAVOURITE
from store.filters import FilterSpec
from store.history import describe_versions, restore_preview
from store.insights import folder_counts
from tests.test_store import DIM, MODEL, row


@pytest.fixture
def library(tmp_path):
    lib = ImageLibrary(str(tmp_path / "db"), "images")
    lib.ensure(MODEL, DIM)
    lib.add([row(i) for i in range(6)])
    return lib


def ids(library, where):
    return sorted(library.query(where=where, select=["id"], limit=None)["id"].to_pylist())


def test_editing_a_description_and_tags_is_one_new_version(library):
    victim = row(1)["id"]
    before = library.table.version
    assert library.update([victim], description="a new caption", tags=["Beach", "sunset"]) == 1
    assert library.table.version == before + 1
    got = library.get(victim, with_vector=True)
    assert got["description"] == "a new caption" and got["tags"] == ["Beach", "sunset"]
    assert len(got["vector"]) == DIM and library.count() == 6


def test_bulk_add_and_remove_tag_touch_only_rows_that_change(library):
    chosen = [row(i)["id"] for i in (0, 1, 2)]
    assert library.update(chosen, add_tags=[FAVOURITE]) == 3
    assert library.update(chosen, add_tags=[FAVOURITE]) == 0  # already there: no new version
    assert ids(library, FilterSpec(tags=[FAVOURITE]).where()) == sorted(chosen)
    assert library.update(chosen, remove_tags=["EVEN"]) == 2  # rows 0 and 2, ignoring case
    assert library.get(chosen[0])["tags"] == [FAVOURITE]


def test_an_edit_is_refused_on_a_read_only_library(library, tmp_path):
    reader = ImageLibrary(str(tmp_path / "db"), "images", read_only=True)
    with pytest.raises(ReadOnlyError, match="read-only"):
        reader.update([row(1)["id"]], add_tags=["x"])


def test_tag_filters_ignore_case_and_treat_wildcards_literally(library):
    library.update([row(3)["id"]], add_tags=["Holiday", "100%_done"])
    assert ids(library, FilterSpec(tags=["holiday"]).where()) == [row(3)["id"]]
    assert ids(library, FilterSpec(tags=["HOLIDAY"]).where()) == [row(3)["id"]]
    assert ids(library, FilterSpec(tags=["100%_done"]).where()) == [row(3)["id"]]
    assert ids(library, FilterSpec(tags=["100"]).where()) == []  # whole tags only
    assert len(ids(library, FilterSpec(tags=["Odd"]).where())) == 3


def test_an_empty_delete_adds_no_version(library):
    before = library.table.version
    assert library.delete(where="file_name = 'nothing.jpg'") == 0
    assert library.table.version == before


def test_versions_are_described_with_their_operation_and_rows_added_or_removed(library):
    library.delete(ids=[row(0)["id"], row(1)["id"]])
    library.update([row(2)["id"]], add_tags=["x"])
    history = describe_versions(library)
    assert [v["operation"] for v in history] == ["created", "added", "deleted", "edited"]
    assert (history[1]["added"], history[2]["removed"], history[3]["added"], history[3]["removed"]) == (6, 2, 0, 0)
    assert [v["rows"] for v in history] == [0, 6, 4, 4]


def test_index_maintenance_versions_are_marked_as_maintenance(library):
    library.add([row(i) for i in range(6, 9)])
    library.table.optimize()  # compaction of the two fragments
    history = describe_versions(library)
    assert history[-1]["maintenance"] and history[-1]["rows"] == 9
    assert not any(v["maintenance"] for v in history[:3])


def test_a_restore_preview_counts_the_rows_it_would_remove(library):
    old = library.table.version
    library.add([row(i) for i in range(6, 10)])
    library.delete(ids=[row(0)["id"]])
    assert restore_preview(library, old) == {"removed": 4, "added": 1}


def test_folders_are_counted_and_filter_the_rows_below_them(library):
    library.add([row(20, uri="/trips/rome/a.jpg"), row(21, uri="/trips/rome/b.jpg"), row(22, uri="/trips/c.jpg")])
    counts = folder_counts(library)
    assert counts["/photos"] == 6 and counts["/trips/rome"] == 2 and counts["/trips"] == 1
    assert len(ids(library, FilterSpec(folders=["/trips"]).where())) == 3
    assert len(ids(library, FilterSpec(folders=["/trips/rome/"]).where())) == 2
