"""Small widgets shared by the pages: filters, thumbnails, messages."""

from __future__ import annotations

import base64
import os

import streamlit as st

from dashboard.photo_widgets import photo_filter_inputs
from pipeline.formatting import human_bytes
from pipeline.formats import FORMAT_NAMES
from store import ImageLibrary, InvalidFilterError, LibraryError, TableNotFoundError
from store.errors import one_line
from store.filters import FilterSpec, date_bounds, parse_tags

FORMATS = list(FORMAT_NAMES)

__all__ = ["human_bytes", "filter_inputs", "checked_where", "thumbnail_url", "require_table", "no_table", "show_original",
           "attempt", "folder_options", "original_path"]


def require_table(library: ImageLibrary) -> None:
    """Stop the page, saying how to index, while the table does not exist yet."""
    if not library.exists():
        no_table(library)
        st.stop()


def no_table(library: ImageLibrary) -> None:
    st.info(
        f"The library is empty: table **{library.table_name}** does not exist in `{library.db_uri}` yet. "
        "Index a folder with `python -m pipeline index PATH` (same `--db`/`--table`), "
        "or add pictures on the **Upload** page.",
        icon=":material/photo_library:",
    )


def filter_inputs(prefix: str, library: ImageLibrary | None = None) -> FilterSpec:
    """Folder, format, date, size, tag and free-SQL inputs; returns the spec (validate with checked_where)."""
    folders: list[str] = []
    if library is not None:
        counts = folder_options(library)
        folders = st.multiselect("Folders (and their subfolders)", list(counts), key=f"{prefix}_folders",
                                 format_func=lambda f: f"{f} ({counts.get(f, 0)})")
    c1, c2, c3 = st.columns(3)
    formats = c1.multiselect("Format", FORMATS, key=f"{prefix}_formats")
    dates = c2.date_input("Indexed between", value=(), key=f"{prefix}_dates", format="YYYY-MM-DD")
    tags = c3.text_input("Tags (any of, comma-separated)", key=f"{prefix}_tags")
    c4, c5 = st.columns(2)
    min_kb = c4.number_input("Min file size (KB)", min_value=0, value=0, step=100, key=f"{prefix}_min_kb")
    max_kb = c5.number_input("Max file size (KB, 0 = no limit)", min_value=0, value=0, step=100,
                             key=f"{prefix}_max_kb")
    sql = st.text_input(
        "SQL filter", key=f"{prefix}_sql", placeholder="e.g. width >= 1024 AND description LIKE '%beach%'",
        help="Any LanceDB filter expression over the columns id, uri, file_name, description, tags, "
        "width, height, format, file_size, mtime, indexed_at, taken_at, camera_make, camera_model, "
        "city, country (and more photo columns). Checked before use.",
    )
    start, end = date_bounds(dates)
    return FilterSpec(
        formats=formats, indexed_from=start, indexed_to=end,
        min_bytes=int(min_kb * 1024) if min_kb else None,
        max_bytes=int(max_kb * 1024) if max_kb else None,
        tags=parse_tags(tags), sql=sql, folders=folders, **photo_filter_inputs(prefix),
    )


def checked_where(library: ImageLibrary, spec: FilterSpec) -> tuple[str | None, str | None]:
    """(where, None) when valid, else (None, one-line message)."""
    try:
        where = spec.where()  # checks the typed SQL first: an open quote or a ';' is refused here
        if not where:
            return None, None
        library.validate_filter(where)
    except InvalidFilterError as error:
        return None, str(error)
    except TableNotFoundError as error:
        return None, str(error)
    return where, None


def human_pixels(megapixels: float) -> str:
    """A resolution people read at a glance: '350 px', '19k px', '2.1 MP' (not '0.00035')."""
    pixels = megapixels * 1e6
    if pixels >= 1e6:
        return f"{megapixels:.3g} MP"
    if pixels >= 1e3:
        return f"{pixels / 1e3:.3g}k px"
    return f"{pixels:.0f} px"


def thumbnail_url(data: bytes | None) -> str | None:
    if not data:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def original_path(row: dict) -> str | None:
    """The local file behind a row, when this server can read it."""
    uri = row.get("uri") or ""
    path = uri[len("file://"):] if uri.startswith("file://") else uri
    return path if path and "://" not in path and os.path.isfile(path) else None


def show_original(row: dict) -> None:
    """The full image when its file is reachable, else the stored thumbnail."""
    uri = row.get("uri") or ""
    if uri.startswith(("http://", "https://")):
        st.image(uri, width="stretch")
        return
    path = original_path(row)
    if path:
        try:
            st.image(path, width="stretch")
            return
        except Exception:  # noqa: BLE001 - an unreadable original falls back to the thumbnail
            pass
    if row.get("thumbnail"):
        st.image(row["thumbnail"], width="stretch")
        st.caption("Original not reachable from this server: showing the thumbnail.")
    else:
        st.caption("No preview available.")


def attempt(write, *args, **kwargs):
    """Run a write; a refusal from the library (read-only, a conflict, a full disk) becomes its one-line
    message on the page instead of a traceback. Returns the write's result, or None when refused."""
    try:
        return write(*args, **kwargs)
    except LibraryError as error:
        st.error(one_line(error), icon=":material/error:")
        return None


def folder_options(library: ImageLibrary) -> dict[str, int]:
    """Source folders and their image counts, recomputed only when the table version changes."""
    return _folder_counts(library.db_uri, library.table_name, library.version)


@st.cache_data(max_entries=8, show_spinner=False)
def _folder_counts(db: str, table: str, version: int) -> dict[str, int]:
    from dashboard.resources import get_library
    from store.insights import folder_counts

    return folder_counts(get_library())
