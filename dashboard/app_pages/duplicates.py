"""Duplicates: the near-duplicate groups of `python -m pipeline duplicates`, side by side; keep one,
delete the others (an ordinary delete: undoable from the Library page's history)."""

from __future__ import annotations

import streamlit as st

from dashboard import resources, style, tiles, widgets
from dashboard.text import esc
from pipeline.duplicates import DEFAULT_THRESHOLD, find_duplicate_groups

MAX_GROUPS = 30
MAX_SHOWN = 6  # members side by side per group
library = resources.get_library()
settings = resources.settings()
state = st.session_state

style.apply()
st.title("Duplicates")
widgets.require_table(library)

form = st.columns([3, 1], vertical_alignment="bottom")
threshold = form[0].slider("Similarity at least", 0.80, 1.0, DEFAULT_THRESHOLD, 0.005, key="duplicates_threshold",
                           help="Cosine similarity of the image vectors: 1.0 is the same picture; 0.95 catches "
                                "resized and re-encoded copies.")
if form[1].button("Find duplicates", key="duplicates_find", type="primary", icon=":material/content_copy:",
                  width="stretch") or state.pop("duplicates_refresh", False):
    with st.spinner("Comparing every image with every other..."):
        state.duplicates_groups = [g.ids for g in find_duplicate_groups(library, threshold=threshold, with_rows=False)]
        state.duplicates_threshold_used = threshold

if state.get("duplicates_message"):
    st.success(state.pop("duplicates_message"), icon=":material/delete:")

groups = state.get("duplicates_groups")
if groups is None:
    st.caption("Press **Find duplicates** to group the images whose vectors are nearly identical.")
    st.stop()
if not groups:
    st.info(f"No duplicates at similarity {state.duplicates_threshold_used:.3f}.", icon=":material/task_alt:")
    st.stop()

extra = sum(len(g) - 1 for g in groups)
st.markdown(f"**{len(groups)}** group{'s' if len(groups) != 1 else ''} · **{extra}** image{'s' if extra != 1 else ''} "
            "could go" + (f" · showing the first {MAX_GROUPS}" if len(groups) > MAX_GROUPS else ""))


def keep_only(group: list[str], keep: str) -> None:
    others = [i for i in group if i != keep]
    version = library.version
    count = widgets.attempt(library.delete, ids=others)
    if count is not None:
        state.duplicates_message = (f"Kept one, deleted {count} (undo from Library → History, version {version}).")
        state.duplicates_refresh = True
        st.rerun()


for number, group in enumerate(groups[:MAX_GROUPS]):
    rows = {r["id"]: r for r in library.get_many(group, with_thumbnail=True)}
    members = [rows[i] for i in group if i in rows][:MAX_SHOWN]
    if len(members) < 2:
        continue
    with st.container(border=True, key=f"duplicates_group_{number}_grid"):
        st.caption(f"Group {number + 1} · {len(group)} images (largest first)")
        cells = st.columns(max(len(members), 3))
        for cell, row in zip(cells, members):
            with cell:
                if row.get("thumbnail"):
                    st.image(row["thumbnail"], width="stretch")
                st.html(f'<div class="tile-name" title="{esc(row.get("uri"))}">{esc(tiles.name_of(row))}</div>'
                        f'<div class="tile-folder">{esc(tiles.folder_tail(row))} · {row.get("width")}×{row.get("height")}'
                        f' · {esc(widgets.human_bytes(row.get("file_size") or 0))}</div>')
                if not settings.read_only:
                    if st.button("Keep this one", key=f"duplicates_keep_{row['id']}", icon=":material/check:",
                                 width="stretch", help="Delete the other images of this group"):
                        keep_only(group, row["id"])
