"""Turn what the user typed (files, folders, globs) into a stream of image sources."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from pipeline.errors import BadInputError
from pipeline.formats import IMAGE_EXTENSIONS, has_image_extension  # noqa: F401 - re-exported
from pipeline.walk import walk_images


@dataclass(frozen=True)
class Source:
    uri: str
    size: int | None = None
    mtime: float | None = None  # seconds since the epoch
    description: str = ""
    tags: tuple[str, ...] = ()


class SourceError(BadInputError):
    """A path or pattern the user gave that names nothing usable."""


def _source_for(path: str) -> Source:
    stat = os.stat(path)
    return Source(uri=os.path.abspath(path), size=stat.st_size, mtime=stat.st_mtime)


def local_sources(paths: Iterable[str], recursive: bool = True, follow_symlinks: bool = False) -> Iterator[Source]:
    """Files are taken as given (even without an image extension: decoding will judge them);
    folders are walked for image extensions (pipeline/walk.py: links are followed only inside the
    given folders unless `follow_symlinks`); anything with glob characters is expanded."""
    paths = list(paths)
    roots = [p for p in paths if os.path.isdir(p)]
    for path in paths:
        if os.path.isdir(path):
            yield from _walked(path, recursive, follow_symlinks, roots)
        elif os.path.exists(path) or os.path.islink(path):
            try:
                yield _source_for(path)
            except OSError:
                yield Source(uri=os.path.abspath(path))
        elif glob.has_magic(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise SourceError(f"no files match {path!r}")
            for match in matches:
                if os.path.isfile(match) and has_image_extension(match):
                    yield _source_for(match)
        else:
            raise SourceError(f"no such file or folder: {path}")


# ---- list files and remote URIs (the bulk job) ------------------------------------------------

LIST_FILE_EXTENSIONS = frozenset({".txt", ".lst", ".csv", ".parquet"})


@dataclass
class Listing:
    """What a set of command-line sources names: the sources, and the folders/prefixes walked
    (rows under a walked root whose file was not found are what `--prune` removes)."""

    sources: list[Source]
    roots: list[str]
    recursive: bool = True  # how the roots were walked: --prune removes only what such a walk lists
    failures: list = field(default_factory=list)  # list-file lines that failed (list_files.BadLine)


def is_list_file(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in LIST_FILE_EXTENSIONS and os.path.isfile(path)


def _text(value) -> str:
    return "" if value is None or value != value else str(value)  # None and NaN are empty


def _tags(value) -> tuple[str, ...]:
    """Tags from a list column, or a string split on ',', ';' or '|'."""
    if value is None or (isinstance(value, float) and value != value):
        return ()
    if isinstance(value, str):
        for sep in ("|", ";"):
            value = value.replace(sep, ",")
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return tuple(str(t) for t in value if t is not None and str(t).strip())


def read_list_file(path: str, bad: list | None = None) -> list[tuple[str, str, tuple[str, ...]]]:
    """(uri, description, tags) per entry of a text (one uri a line, '#' comments), CSV or Parquet
    list file; CSV and Parquet need a `uri` column, `description` and `tags` are optional.
    Relative local paths are taken relative to the list file's folder. Text and CSV are read line by
    line (pipeline/list_files.py): a bad line is appended to `bad` as a BadLine, or, without `bad`,
    raises SourceError naming it."""
    import pyarrow as pa

    from pipeline.list_files import read_csv_list, read_text_list

    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in (".txt", ".lst"):
            lines, failed = read_text_list(path)
            entries = [(uri, "", ()) for _, uri in lines]
        elif ext == ".csv":
            rows, failed = read_csv_list(path)
            entries = [(uri, _text(d), _tags(t)) for _, (uri, d, t) in rows]
        else:
            import pyarrow.parquet as pq

            failed = []
            table = pq.read_table(path)
            if "uri" not in table.column_names:
                raise SourceError(f"list file {path} has no 'uri' column (has: {', '.join(table.column_names)})")
            n = table.num_rows
            uris = table["uri"].to_pylist()
            descriptions = table["description"].to_pylist() if "description" in table.column_names else [None] * n
            tags = table["tags"].to_pylist() if "tags" in table.column_names else [None] * n
            entries = [(_text(u).strip(), _text(d), _tags(t)) for u, d, t in zip(uris, descriptions, tags)
                       if _text(u).strip()]
    except (pa.ArrowInvalid, OSError, ValueError) as error:
        raise SourceError(f"cannot read list file {path}: {str(error).splitlines()[0]}") from None
    if failed and bad is None:
        raise SourceError(f"bad line in list file {failed[0].where}: {failed[0].reason}")
    if bad is not None:
        bad.extend(failed)
    base = os.path.dirname(os.path.abspath(path))
    return [(u if "://" in u or os.path.isabs(u) else os.path.join(base, u), d, t) for u, d, t in entries]


def _s3_sources(uri: str, recursive: bool, s3_options: dict | None) -> tuple[list[Source], str | None]:
    """An s3:// object, prefix ("folder") or glob -> sources with size and mtime from the listing."""
    import fnmatch

    from pyarrow import fs

    from pipeline.filesystems import s3_filesystem, s3_path

    s3 = s3_filesystem(s3_options)
    path = s3_path(uri).rstrip("/")
    pattern = None
    if glob.has_magic(path):
        pattern = path
        path = path[:min(path.index(c) for c in "*?[" if c in path)].rsplit("/", 1)[0]
    try:
        info = s3.get_file_info(path)
        if pattern is None and info.type == fs.FileType.File:
            return [Source(uri=uri, size=info.size, mtime=_seconds(info.mtime))], None
        if info.type == fs.FileType.NotFound:
            raise SourceError(f"no such object or prefix: {uri}")
        infos = s3.get_file_info(fs.FileSelector(path, recursive=recursive or pattern is not None))
    except OSError as error:
        raise SourceError(f"cannot list {uri}: {str(error).splitlines()[0]}") from None
    found = []
    for item in sorted(infos, key=lambda i: i.path):
        if item.type != fs.FileType.File or not has_image_extension(item.path):
            continue
        if pattern is not None and not fnmatch.fnmatchcase(item.path, pattern):
            continue
        found.append(Source(uri="s3://" + item.path, size=item.size, mtime=_seconds(item.mtime)))
    if pattern is not None and not found:
        raise SourceError(f"no files match {uri!r}")
    return found, (None if pattern else "s3://" + path + "/")


def _seconds(mtime) -> float | None:
    return mtime.timestamp() if mtime is not None else None


def _stat_entry(uri: str, description: str, tags: tuple[str, ...], s3_options: dict | None) -> Source:
    """A list-file entry with size and mtime where a cheap stat exists (local files, s3 objects);
    http(s) has none, so those entries are always read (their id still skips the encoder)."""
    if uri.startswith(("http://", "https://")):
        return Source(uri=uri, description=description, tags=tags)
    try:
        if uri.startswith("s3://"):
            from pipeline.filesystems import s3_filesystem, s3_path

            info = s3_filesystem(s3_options).get_file_info(s3_path(uri))
            return Source(uri=uri, size=info.size, mtime=_seconds(info.mtime), description=description, tags=tags)
        uri = os.path.abspath(uri[len("file://"):] if uri.startswith("file://") else uri)
        stat = os.stat(uri)
        return Source(uri=uri, size=stat.st_size, mtime=stat.st_mtime, description=description, tags=tags)
    except (OSError, TypeError, ValueError):  # ValueError: an embedded NUL byte
        return Source(uri=uri, description=description, tags=tags)  # reading reports the reason


def list_sources(specs: Iterable[str], recursive: bool = True, s3_options: dict | None = None,
                 follow_symlinks: bool = False) -> Listing:
    """Folders, globs, files, list files, s3:// objects/prefixes/globs and http(s):// URLs -> sources.

    A file with a list-file extension (.txt, .lst, .csv, .parquet) is read as a list of URIs; its
    bad lines go to `Listing.failures`."""
    specs = list(specs)
    sources: list[Source] = []
    roots: list[str] = []
    failures: list = []
    folders = [spec for spec in specs if "://" not in spec and os.path.isdir(spec)]
    for spec in specs:
        if spec.startswith(("http://", "https://")):
            sources.append(Source(uri=spec))
        elif spec.startswith("s3://"):
            found, root = _s3_sources(spec, recursive, s3_options)
            sources.extend(found)
            roots.extend([root] if root else [])
        elif is_list_file(spec):
            sources.extend(_stat_entry(u, d, t, s3_options) for u, d, t in read_list_file(spec, failures))
        elif spec in folders:
            sources.extend(_walked(spec, recursive, follow_symlinks, folders))
            roots.append(os.path.join(os.path.abspath(spec), ""))
        else:
            sources.extend(local_sources([spec], recursive=recursive))
    return Listing(sources, roots, recursive=recursive, failures=failures)


def _walked(folder: str, recursive: bool, follow_symlinks: bool, roots: list[str]) -> Iterator[Source]:
    for file_path in walk_images(folder, recursive, follow_symlinks, roots):
        try:
            yield _source_for(file_path)
        except OSError:
            yield Source(uri=os.path.abspath(file_path))  # reading reports the reason
