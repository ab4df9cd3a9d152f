"""Library: metrics, charts, a paginated gallery with delete, delete by filter, clear, version history."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboard import photo_widgets, resources, widgets
from store import LibraryError, insights

PAGE_SIZE = 24
GALLERY_COLUMNS = 6
library = resources.get_library()
settings = resources.settings()
state = st.session_state

st.title("Library")
widgets.require_table(library)


def deleted(count: int, version: int, what: str, ids=None, where=None) -> None:
    """Remember how to bring back exactly these rows (not the whole table's state: others may be writing)."""
    state.library_undo = {"version": version, "ids": ids, "where": where,
                          "text": f"Deleted {count} image{'s' if count != 1 else ''} ({what})."}
    state.library_selected = set()


def toggle(image_id: str) -> None:
    """A callback, so the selection (and the delete button's count) is current before the page draws;
    it also survives paging."""
    selected = state.setdefault("library_selected", set())
    (selected.add if state.get(f"library_pick_{image_id}") else selected.discard)(image_id)


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
        library.undelete(undo_info["version"], ids=undo_info["ids"], where=undo_info["where"])
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
        c3.altair_chart(hist(insights.megapixel_histogram(library), "megapixels", lambda v: f"{v:.2g}"), width="stretch")
        c4.markdown("**File size**")
        c4.altair_chart(hist(insights.file_size_histogram(library), "file size", widgets.human_bytes), width="stretch")
        photo_widgets.photo_charts(library)

# --- gallery ----------------------------------------------------------------------------------
with tab_gallery:
    state.setdefault("library_selected", set())
    controls = st.columns([2, 1, 1, 2])
    order = controls[0].selectbox("Sort by", [c for c in ("indexed_at", "taken_at", "file_name", "file_size", "width", "format")
                                                      if c in library.table.schema.names], key="library_order")
    descending = controls[1].toggle("Descending", value=True, key="library_desc")
    pages = max(1, -(-stats["rows"] // PAGE_SIZE))
    page = controls[2].number_input(f"Page (of {pages})", 1, pages, 1, key="library_page")
    rows = library.page(offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, order_by=order, descending=descending,
                        with_thumbnail=True)
    selected: set = state.library_selected
    if not settings.read_only:
        with controls[3]:
            st.write("")
            if st.button(f"Delete selected ({len(selected)})", key="library_delete_selected", disabled=not selected,
                         icon=":material/delete:"):
                state.library_confirm_selected = True
            if state.get("library_confirm_selected") and selected:
                st.warning(f"Delete {len(selected)} image(s)?")
                yes, no = st.columns(2)
                if yes.button("Yes, delete", key="library_delete_selected_yes", type="primary"):
                    version = library.table.version
                    count = library.delete(ids=sorted(selected))
                    deleted(count, version, "selected in the gallery", ids=sorted(selected))
                    state.library_confirm_selected = False
                    st.rerun()
                if no.button("Cancel", key="library_delete_selected_no"):
                    state.library_confirm_selected = False
                    st.rerun()
    for start in range(0, len(rows), GALLERY_COLUMNS):
        cells = st.columns(GALLERY_COLUMNS)
        for cell, row in zip(cells, rows[start:start + GALLERY_COLUMNS]):
            with cell.container(border=True):
                if row.get("thumbnail"):
                    st.image(row["thumbnail"], width="stretch")
                name = row.get("file_name") or row["id"][:12]
                if settings.read_only:
                    st.caption(name)
                else:
                    st.checkbox(name, value=row["id"] in selected, key=f"library_pick_{row['id']}",
                                on_change=toggle, args=(row["id"],))

# --- delete by filter, clear -----------------------------------------------------------------
with tab_maintenance:
    if settings.read_only:
        st.info("Read-only mode: deleting and clearing are disabled.", icon=":material/lock:")
    else:
        st.subheader("Delete by filter")
        spec = widgets.filter_inputs("library")
        where, error = widgets.checked_where(library, spec)
        if error:
            st.error(error, icon=":material/error:")
        elif where:
            matching = library.count(where)
            st.markdown(f"`{where}` matches **{matching}** image{'s' if matching != 1 else ''}.")
            if matching:
                sure = st.checkbox(f"I want to delete these {matching} images", key="library_filter_sure")
                if st.button(f"Delete {matching} images", key="library_filter_delete", disabled=not sure,
                             type="primary", icon=":material/delete:"):
                    version = library.table.version
                    gone = library.delete_returning_ids(where=where)  # undo brings back exactly these
                    deleted(len(gone), version, f"filter {where}", ids=gone)
                    st.rerun()
        else:
            st.caption("Set a filter above to see how many images it matches.")

        st.divider()
        st.subheader("Clear the library")
        st.caption(f"Deletes all {stats['rows']:,} images from table **{library.table_name}** (still undoable from History).")
        typed = st.text_input(f"Type the table name ({library.table_name}) to confirm", key="library_clear_confirm")
        if st.button("Clear library", key="library_clear", disabled=typed != library.table_name,
                     icon=":material/delete_forever:"):
            version = library.table.version
            count = library.clear()
            deleted(count, version, "cleared the library", where="true")
            st.rerun()

# --- version history --------------------------------------------------------------------------
with tab_history:
    versions = list(reversed(library.versions()))
    st.caption("Every add and delete is a version. Restoring makes an old version current again "
               "as a new version, so a restore can be undone too.")
    st.dataframe([{"version": v["version"], "time": v["timestamp"], "images": v["rows"],
                   "current": "✓" if v["version"] == stats["version"] else ""} for v in versions],
                 hide_index=True, width="stretch", key="library_versions")
    if not settings.read_only and len(versions) > 1:
        choices = [v["version"] for v in versions if v["version"] != stats["version"]]
        labels = {v["version"]: f"version {v['version']} · {v['rows']} images" for v in versions}
        target = st.selectbox("Version to restore", choices, format_func=labels.get, key="library_restore_version")
        if st.button("Restore this version", key="library_restore", icon=":material/history:"):
            try:
                library.restore(int(target))
                state.library_undo = None
                state.library_message = f"Restored version {target}: the library has {library.count():,} images again."
                st.rerun()
            except LibraryError as error:
                st.error(str(error), icon=":material/error:")
