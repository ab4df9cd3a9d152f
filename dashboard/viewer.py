"""The image viewer: a dialog over the current results (search hits or a gallery page).

The large image (the original when this server can read it, else the thumbnail), previous/next
with buttons and the arrow keys, metadata beside it, download the original, edit description and
tags, favourite, More like this and Delete. It opens where the person is looking, whatever the
scroll position, which inline details at the top of the grid did not.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import streamlit as st

from dashboard import photo_widgets, widgets
from dashboard.text import esc, md, tag_chips
from store.edits import FAVOURITE
from store.filters import parse_tags

state = st.session_state
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


def open_at(ids: Sequence[str], index: int) -> None:
    state.viewer = {"ids": list(ids), "index": index}


def close() -> None:
    state.pop("viewer", None)
    state.pop("viewer_confirm_delete", None)


def is_open() -> bool:
    return bool(state.get("viewer") and state.viewer["ids"])


def current_id() -> str | None:
    return state.viewer["ids"][state.viewer["index"]] if is_open() else None


def _step(delta: int) -> None:
    viewer = state.viewer
    viewer["index"] = (viewer["index"] + delta) % len(viewer["ids"])
    state.pop("viewer_confirm_delete", None)


def show(library, rows: Sequence[dict], read_only: bool, on_like: Callable[[dict], None] | None,
         on_deleted: Callable[[dict, int], None]) -> None:
    """Draw the viewer when it is open. `rows` are the dicts the page holds (edits update them too)."""
    if not is_open():
        return
    by_id = {r["id"]: r for r in rows}
    viewer = state.viewer
    viewer["ids"] = [i for i in viewer["ids"] if i in by_id]
    if not viewer["ids"]:
        close()
        return
    viewer["index"] = min(viewer["index"], len(viewer["ids"]) - 1)
    _dialog(library, by_id, read_only, on_like, on_deleted)


@st.dialog("Image", width="large", on_dismiss=close)
def _dialog(library, by_id, read_only, on_like, on_deleted) -> None:
    viewer = state.get("viewer")
    if not viewer or not viewer["ids"]:
        return
    row = by_id[viewer["ids"][viewer["index"]]]
    image_id = row["id"]
    picture, facts = st.columns([3, 2], gap="medium")
    with picture:
        widgets.show_original(row)
        nav = st.columns([1, 2, 1])
        nav[0].button("Previous", key="viewer_prev", on_click=_step, args=(-1,), icon=":material/arrow_back:",
                      shortcut="Left", width="stretch", help="Left arrow key")
        nav[1].markdown(f"<div style='text-align:center'>{viewer['index'] + 1} of {len(viewer['ids'])}</div>",
                        unsafe_allow_html=True)
        nav[2].button("Next", key="viewer_next", on_click=_step, args=(1,), icon=":material/arrow_forward:",
                      shortcut="Right", width="stretch", help="Right arrow key")
    with facts:
        if state.get("viewer_note"):
            st.success(state.pop("viewer_note"), icon=":material/check:")
        name = row.get("file_name") or image_id[:12]
        st.html(f'<div class="viewer-name" style="font-size:1.25rem;font-weight:600;overflow-wrap:anywhere">{esc(name)}</div>')
        size = widgets.human_bytes(row.get("file_size") or 0)
        score = f"Score **{row.get('similarity', row['score']):.4f}** · " if "score" in row else ""
        st.markdown(f"{score}{md(row.get('format') or '?')} · {row.get('width')}×{row.get('height')} · {size}")
        if row.get("description"):
            st.text(row["description"])
        if row.get("tags"):
            st.html(tag_chips(row["tags"]))
        photo_widgets.photo_details(row)
        indexed = row.get("indexed_at")
        if indexed:
            st.caption(f"Indexed {indexed:%Y-%m-%d %H:%M} UTC")
        st.caption(md(row.get("uri")))
        st.caption(f"id {image_id}")
        _download(row)
        actions = st.columns(2)
        if on_like and actions[0].button("More like this", key="viewer_like", icon=":material/image_search:",
                                         width="stretch"):
            close()
            on_like(row)
            st.rerun()
        if not read_only:
            _favourite(library, row, actions[1])
            _edit(library, row)
            _delete(library, row, on_deleted)
    if st.button("Close", key="viewer_close", icon=":material/close:"):
        close()
        st.rerun()  # a whole-app rerun: from inside the dialog (a fragment) that is what closes it


def _download(row: dict) -> None:
    path = widgets.original_path(row)
    if not path or os.path.getsize(path) > MAX_DOWNLOAD_BYTES:
        return

    def read() -> bytes:  # deferred: only a click reads the file
        with open(path, "rb") as f:
            return f.read()

    st.download_button("Download original", data=read, file_name=row.get("file_name") or os.path.basename(path),
                       key="viewer_download", icon=":material/download:", width="stretch")


def _apply(row: dict, library) -> None:
    """Refresh the page's copy of the row after an edit."""
    fresh = library.get(row["id"], with_thumbnail=False)
    if fresh:
        row["tags"], row["description"] = fresh.get("tags"), fresh.get("description")


def _favourite(library, row: dict, where) -> None:
    on = FAVOURITE in [t.lower() for t in row.get("tags") or []]
    if where.button("Unfavourite" if on else "Favourite", key="viewer_favourite", width="stretch",
                    icon=":material/star:" if on else ":material/star_border:"):
        change = {"remove_tags": [FAVOURITE]} if on else {"add_tags": [FAVOURITE]}
        if widgets.attempt(library.update, [row["id"]], **change) is not None:
            _apply(row, library)
            st.rerun()


def _edit(library, row: dict) -> None:
    # A form: the typed text and the Save click reach the server together, so a quick click loses nothing.
    with st.expander("Edit description and tags", icon=":material/edit:"), st.form(f"viewer_edit_{row['id']}",
                                                                                  border=False):
        description = st.text_area("Description", value=row.get("description") or "", key=f"viewer_desc_{row['id']}",
                                   height=80)
        tags = st.text_input("Tags (comma-separated)", value=", ".join(row.get("tags") or []),
                             key=f"viewer_tags_{row['id']}")
        if st.form_submit_button("Save", key="viewer_save", icon=":material/save:"):
            changed = widgets.attempt(library.update, [row["id"]], description=description.strip(),
                                      tags=parse_tags(tags))
            if changed is not None:
                _apply(row, library)
                state.viewer_note = "Saved." if changed else "Nothing changed."
                st.rerun()


def _delete(library, row: dict, on_deleted) -> None:
    if st.button("Delete", key="viewer_delete", icon=":material/delete:", width="stretch"):
        state.viewer_confirm_delete = row["id"]
    if state.get("viewer_confirm_delete") == row["id"]:
        st.warning("Delete this image from the library? (The original file is kept.)")
        yes, no = st.columns(2)
        if yes.button("Yes, delete", key="viewer_confirm_yes", type="primary"):
            version = library.version
            if widgets.attempt(library.delete, ids=[row["id"]]) is not None:
                state.pop("viewer_confirm_delete", None)
                on_deleted(row, version)
                st.rerun()
        if no.button("Cancel", key="viewer_confirm_no"):
            state.pop("viewer_confirm_delete", None)
            st.rerun()
