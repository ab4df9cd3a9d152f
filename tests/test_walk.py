"""The folder walk and `--prune`: links stay inside the given folders, any depth is walked, and
prune removes only rows whose files this walk would list and are really gone."""

import contextlib
import io
import json
import os
import shutil

import pytest

from pipeline.cli import main
from pipeline.sources import list_sources
from store import ImageLibrary
from tests.sample_images import write_photos


def nest(folder, depth: int) -> str:
    """A folder `depth` levels deep (os.makedirs itself recurses too deep for this)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # too long to name
            return ""
    finally:
        os.close(fd)


def unnest(folder) -> None:
    """Remove a `nest` one level at a time (shutil.rmtree and pytest's cleanup would recurse)."""
    top = os.path.join(folder, "d")
    while os.path.isdir(top):
        inner = os.path.join(top, "d")
        if os.path.isdir(inner):
            os.rename(inner, top + ".next")
            shutil.rmtree(top)
            os.rename(top + ".next", top)
        else:
            shutil.rmtree(top)


def test_a_link_to_the_root_of_the_machine_is_not_followed(tmp_path):
    write_photos(tmp_path / "photos", 2)
    os.symlink("/", tmp_path / "photos" / "everything")
    os.symlink(tmp_path / "photos", tmp_path / "photos" / "loop")  # inside the root: followed once
    uris = [s.uri for s in list_sources([str(tmp_path / "photos")]).sources]
    assert [os.path.basename(u) for u in uris] == ["photo_0000.jpg", "photo_0001.png"]


def test_links_between_given_folders_are_followed_and_follow_symlinks_opens_the_rest(tmp_path):
    write_photos(tmp_path / "outside", 1, start=5)
    write_photos(tmp_path / "a", 1)
    os.symlink(tmp_path / "outside", tmp_path / "a" / "out")
    assert len(list_sources([str(tmp_path / "a")]).sources) == 1
    assert len(list_sources([str(tmp_path / "a"), str(tmp_path / "outside")]).sources) == 3  # via the link too
    assert len(list_sources([str(tmp_path / "a")], follow_symlinks=True).sources) == 2


def test_a_folder_nested_1100_deep_is_walked_without_recursion(tmp_path):
    deep = nest(tmp_path, 1100)
    try:
        write_photos(deep, 1)
        [source] = list_sources([str(tmp_path)]).sources
        assert source.uri.endswith("/d/d/photo_0000.jpg") and source.uri.count("/d") == 1100
    finally:
        unnest(tmp_path)


def test_a_folder_too_deep_to_open_is_reported_by_name_and_the_rest_is_listed(tmp_path, caplog):
    write_photos(tmp_path, 1)
    nest(tmp_path, 2100)  # 4,200 characters of path: past PATH_MAX, the kernel refuses to open it
    try:
        with caplog.at_level("WARNING", logger="pipeline.walk"):
            sources = list_sources([str(tmp_path)]).sources
        assert [os.path.basename(s.uri) for s in sources] == ["photo_0000.jpg"]
        [warning] = [r.getMessage() for r in caplog.records]
        assert warning.startswith(f"skipping folder {tmp_path}/d/d/") and "name too long" in warning.lower()
    finally:
        unnest(tmp_path)


@pytest.fixture
def indexed(tmp_path, tiny_clip_dir, monkeypatch, capsys):
    monkeypatch.setenv("IMAGESEARCH_MODEL", tiny_clip_dir)
    db = str(tmp_path / "db")

    def index(*args):
        code = main(["index", *map(str, args), "--db", db, "--runner", "local", "--json"])
        out = capsys.readouterr().out
        assert code == 0
        return json.loads(out)

    return index, ImageLibrary(db)


def names(library):
    return sorted(r["file_name"] for r in library.query(select=["file_name"], limit=None).to_pylist())


def test_prune_with_no_recursive_leaves_subfolders_alone(tmp_path, indexed):
    index, library = indexed
    write_photos(tmp_path / "p", 1)
    write_photos(tmp_path / "p" / "sub", 2, start=1)
    index(tmp_path / "p")
    assert index(tmp_path / "p", "--no-recursive", "--prune")["pruned"] == 0
    assert len(names(library)) == 3


def test_prune_keeps_files_indexed_by_name_that_the_walk_never_lists(tmp_path, indexed):
    index, library = indexed
    [photo] = write_photos(tmp_path / "p", 1)
    hidden, bare = tmp_path / "p" / ".hidden.jpg", tmp_path / "p" / "no-extension"
    write_photos(tmp_path / "src", 2, start=1)
    shutil.copy(tmp_path / "src" / "photo_0001.png", hidden)
    shutil.copy(tmp_path / "src" / "photo_0002.jpg", bare)
    index(hidden, bare)
    index(tmp_path / "p")
    assert index(tmp_path / "p", "--prune")["pruned"] == 0
    assert names(library) == [".hidden.jpg", "no-extension", photo.name]


def test_prune_of_one_name_keeps_the_content_stored_under_another(tmp_path, indexed):
    index, library = indexed
    [photo] = write_photos(tmp_path / "p", 1)
    index(tmp_path / "p")
    shutil.copy(photo, tmp_path / "p" / "copy.jpg")  # same bytes: one row, under the first name
    index(tmp_path / "p")
    photo.unlink()
    report = index(tmp_path / "p", "--prune")
    assert (report["pruned"], report["indexed"]) == (1, 1)
    assert [r["uri"] for r in library.query(select=["uri"]).to_pylist()] == [str(tmp_path / "p" / "copy.jpg")]


def test_prune_keeps_a_file_that_arrives_while_the_listing_runs(tmp_path, indexed, monkeypatch):
    """An upload lands in the walked folder (and the table) after the walk passed it."""
    import pipeline.sources as sources

    index, library = indexed
    write_photos(tmp_path / "p", 1)
    index(tmp_path / "p")
    write_photos(tmp_path / "upload", 1, start=7)
    real_walk = sources.walk_images

    def walk_then_upload(*args, **kwargs):
        yield from real_walk(*args, **kwargs)
        late = tmp_path / "p" / "photo_0007.png"  # after the listing, before the table is read
        shutil.copy(tmp_path / "upload" / "photo_0007.png", late)
        with contextlib.redirect_stdout(io.StringIO()):  # the uploader's own summary
            main(["index", str(late), "--db", library.db_uri, "--runner", "local"])

    monkeypatch.setattr(sources, "walk_images", walk_then_upload)
    assert index(tmp_path / "p", "--prune")["pruned"] == 0
    assert names(library) == ["photo_0000.jpg", "photo_0007.png"]
