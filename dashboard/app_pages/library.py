"""Library: metrics, charts, a paginated gallery with delete, delete by filter, clear, version history."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboard import photo_widgets, resources, style, tiles, viewer, widgets
from dashboard.history_tab import history_tab
from dashboard.selection import Selection, controls, preview, sidebar_actions
from store import insights
from store.filters import FilterSpec, parse_tags

PAGE_SIZE = 24
GALLERY_COLUMNS = 6
library = resources.get_library()
settings = resources.settings()
state = st.session_state

style.apply()
st.title("Library")
widgets.require_table(library)


def deleted(count: int, version: int, what: str, ids=None, where=None) -> None:
    """Remember how to bring back exactly these rows (not the whole table's state: others may be writing)."""
    state.library_undo = {"version": version, "ids": ids, "where": where,
                          "text": f"Deleted {count} image{'s' if count != 1 else ''} ({what})."}


def like(row: dict) -> None:
    """More like this works without the model: the row's own vector is the query."""
    state.search_like = {"id": row["id"], "name": row.get("file_name") or row["id"][:12]}
    state.search_pending = True
    state.library_go_search = True


if state.pop("library_go_search", False):  # switch_page cannot run inside a callback
    st.switch_page("app_pages/search.py")


# --- metrics ----------------------------------------------------------------------------------
stats = library.stats()
index = insights.index_status(library)
m = st.columns(6)
m[0].metric("Images", f"{stats['rows']:,}")
m[1].metric("Originals", widgets.human_bytes(stats["total_bytes"]))
m[2].metric("On disk", widgets.human_bytes(stats["disk_bytes"]), help="Table files: vectors, thumbnails, metadata, old versions.")
m[3].metric("Model", (stats["model"] or "?").rsplit("/", 1)[-1], help=stats["model"])
m[4].metric("Dimension", stats["dim"])
m[5].metric("Vector index", index["vector_index"] or "none",
            help=index["summary"] + ". Build one after bulk indexing with `python -m pipeline optimize`.")

if state.get("library_message"):
    st.success(state.pop("library_message"), icon=":material/history:")
if state.get("library_undo"):
    undo = st.columns([6, 1])
    undo[0].success(state.library_undo["text"], icon=":material/delete:")
    if not settings.read_only and undo[1].button("Undo", key="library_undo_button", icon=":material/undo:"):
        undo_info = state.library_undo
        if widgets.attempt(library.undelete, undo_info["version"], ids=undo_info["ids"],
                           where=undo_info["where"]) is not None:
            state.library_undo = None
            st.rerun()

tab_gallery, tab_charts, tab_maintenance, tab_history = st.tabs(["Gallery", "Charts", "Delete & clear", "History"])

# --- charts -----------------------------------------------------------------------------------
with tab_charts:
    if stats["rows"] == 0:
        st.info("No images yet.")
    else:
        c1, c2 = st.columns(2)
        formats = insights.format_counts(library)
        c1.markdown("**Formats**")
        c1.altair_chart(alt.Chart(alt.Data(values=[{"format": k, "images": v} for k, v in formats.items()]))
                        .mark_bar().encode(x=alt.X("format:N", sort="-y"), y="images:Q", tooltip=["format:N", "images:Q"]),
                        width="stretch")
        per_day = insights.indexed_per_day(library)
        c2.markdown("**Images indexed over time**")
        if len(per_day) < 2:  # one point is not a chart
            c2.info(f"All {stats['rows']:,} images were indexed on {per_day[0]['day']:%Y-%m-%d}." if per_day
                    else "No indexing dates recorded.", icon=":material/calendar_today:")
        else:
            c2.altair_chart(alt.Chart(alt.Data(values=[{"day": d["day"].isoformat(), "images": d["total"], "added": d["count"]}
                                                   for d in per_day]))
                        .mark_area(line=True, opacity=0.3, point=len(per_day) < 40)
                        .encode(x="day:T", y=alt.Y("images:Q", title="images in the library"), tooltip=["day:T", "added:Q", "images:Q"]),
                        width="stretch")

        def hist(bins, unit, fmt):
            values = [{"range": f"{fmt(b['low'])}–{fmt(b['high'])}", "low": b["low"], "images": b["count"]} for b in bins]
            return (alt.Chart(alt.Data(values=values)).mark_bar()
                    .encode(x=alt.X("range:N", sort=alt.SortField("low"), title=unit), y="images:Q", tooltip=["range:N", "images:Q"]))

        c3, c4 = st.columns(2)
        c3.markdown("**Resolution**")
        c3.altair_chart(hist(insights.megapixel_histogram(library), "resolution", widgets.human_pixels), width="stretch")
        c4.markdown("**File size**")
        c4.altair_chart(hist(insights.file_size_histogram(library), "file size", widgets.human_bytes), width="stretch")
        photo_widgets.photo_charts(library)

# --- gallery ----------------------------------------------------------------------------------
with tab_gallery:
    filters = st.columns([3, 2])
    counts = widgets.folder_options(library)
    folder_pick = filters[0].multiselect("Folder", list(counts), key="gallery_folder",
                                         format_func=lambda f: f"{f} ({counts.get(f, 0)})",
                                         placeholder="All folders")
    tag_text = filters[1].text_input("Tags (any of)", key="gallery_tags", placeholder="e.g. favourite")
    gallery_where, gallery_error = widgets.checked_where(
        library, FilterSpec(folders=folder_pick, tags=parse_tags(tag_text)))
    if gallery_error:
        st.error(gallery_error, icon=":material/error:")
    matching = library.count(gallery_where) if gallery_where else stats["rows"]
    controls_row = st.columns([2, 1, 1, 1.2])
    order = controls_row[0].selectbox("Sort by", [c for c in ("indexed_at", "taken_at", "file_name", "file_size", "width",
                                                          "format") if c in library.columns],
                                      key="library_order")
    descending = controls_row[1].toggle("Descending", value=True, key="library_desc")
    pages = max(1, -(-matching // PAGE_SIZE))
    page = controls_row[2].number_input(f"Page (of {pages})", 1, pages, 1, key="library_page")
    mode = controls_row[3].segmented_control("View", ["Grid", "List"], default="Grid", key="library_view") or "Grid"
    rows = library.page(offset=(min(page, pages) - 1) * PAGE_SIZE, limit=PAGE_SIZE, order_by=order,
                        descending=descending, where=gallery_where, with_thumbnail=True)
    selection = None if settings.read_only else Selection("library")
    if selection is not None:
        controls(selection, [r["id"] for r in rows],
                 lambda: library.query(where=gallery_where, select=["id"], limit=None)["id"].to_pylist(), matching)
        sidebar_actions(library, selection, lambda count, version, ids: deleted(count, version, "selected", ids=ids))

    def open_row(index: int) -> None:
        viewer.open_at([r["id"] for r in rows], index)

    if mode == "List":
        picked = tiles.compact_list(rows, key="library_table")
        if picked is not None and state.get("library_list_opened") != picked:
            state.library_list_opened = picked
            open_row(picked)
    else:
        tiles.grid(rows, key="library", columns=GALLERY_COLUMNS, on_open=open_row, on_like=like, selection=selection)

    def gone(row: dict, version: int) -> None:
        deleted(1, version, row.get("file_name") or row["id"][:12], ids=[row["id"]])

    if not (selection and state.get("library_confirm_delete")):  # one dialog at a time
        viewer.show(library, rows, settings.read_only, on_like=like, on_deleted=gone)

# --- delete by filter, clear -----------------------------------------------------------------
with tab_maintenance:
    if settings.read_only:
        st.info("Read-only mode: deleting and clearing are disabled.", icon=":material/lock:")
    else:
        st.subheader("Delete by filter")
        spec = widgets.filter_inputs("library", library)
        where, error = widgets.checked_where(library, spec)
        if error:
            st.error(error, icon=":material/error:")
        elif where:
            matching = library.count(where)
            st.markdown(f"The filter matches **{matching}** image{'s' if matching != 1 else ''}.")
            st.code(where, language="sql", wrap_lines=True)
            if matching:
                preview(library, where=where, total=matching)
                sure = st.checkbox(f"I want to delete these {matching} images", key="library_filter_sure")
                if st.button(f"Delete {matching} images", key="library_filter_delete", disabled=not sure,
                             type="primary", icon=":material/delete:"):
                    version = library.version
                    gone = widgets.attempt(library.delete_returning_ids, where=where)  # undo brings back exactly these
                    if gone is not None:
                        deleted(len(gone), version, "by filter", ids=gone)
                        st.rerun()
        else:
            st.caption("Set a filter above to see how many images it matches.")

        st.divider()
        st.subheader("Clear the library")
        st.caption(f"Deletes all {stats['rows']:,} images from table **{library.table_name}** (still undoable from History).")
        typed = st.text_input(f"Type the table name ({library.table_name}) to confirm", key="library_clear_confirm")
        if st.button("Clear library", key="library_clear", disabled=typed != library.table_name,
                     icon=":material/delete_forever:"):
            version = library.version
            count = widgets.attempt(library.clear)
            if count is not None:
                deleted(count, version, "cleared the library", where="true")
                st.rerun()

# --- version history --------------------------------------------------------------------------
with tab_history:
    history_tab(library, stats["version"], settings.read_only)
