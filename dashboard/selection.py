"""A selection of images that survives paging: select page / all matching, clear, a count that stays in
the sidebar, bulk tag edits, and a delete that shows thumbnails of what will go before it goes."""

from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from dashboard import widgets
from dashboard.text import md
from store.edits import FAVOURITE
from store.filters import parse_tags

PREVIEW = 12
state = st.session_state


class Selection:
    def __init__(self, key: str):
        self.key = key
        state.setdefault(f"{key}_selected", set())

    @property
    def ids(self) -> set[str]:
        return state[f"{self.key}_selected"]

    def _pick_key(self, image_id: str) -> str:
        return f"{self.key}_pick_{image_id}"

    def _toggle(self, image_id: str) -> None:
        (self.ids.add if state.get(self._pick_key(image_id)) else self.ids.discard)(image_id)

    def checkbox(self, image_id: str, label: str) -> None:
        # A callback, so the count is current before the page draws.
        st.checkbox(md(label), value=image_id in self.ids, key=self._pick_key(image_id),
                    on_change=self._toggle, args=(image_id,))

    def set(self, ids: Sequence[str], add: bool = True) -> None:
        """Callback-safe: also sets the checkboxes' own state, which Streamlit would otherwise keep."""
        for image_id in ids:
            (self.ids.add if add else self.ids.discard)(image_id)
            state[self._pick_key(image_id)] = add

    def clear(self) -> None:
        self.ids.clear()
        for name in [k for k in state if isinstance(k, str) and k.startswith(f"{self.key}_pick_")]:
            state[name] = False


def controls(selection: Selection, page_ids: Sequence[str], all_matching: Callable[[], list[str]],
             matching_count: int) -> None:
    """Select page / select all matching / clear, with the count."""
    k = selection.key
    cols = st.columns([1.2, 1.6, 1, 2])
    cols[0].button("Select page", key=f"{k}_select_page", on_click=selection.set, args=(list(page_ids),),
                   icon=":material/select_all:", width="stretch")
    cols[1].button(f"Select all {matching_count:,} matching", key=f"{k}_select_all",
                   on_click=lambda: selection.set(all_matching()), icon=":material/done_all:", width="stretch")
    cols[2].button("Clear", key=f"{k}_select_clear", on_click=selection.clear, disabled=not selection.ids,
                   icon=":material/deselect:", width="stretch")
    cols[3].markdown(f"**{len(selection.ids):,}** selected")


def sidebar_actions(library, selection: Selection, on_deleted: Callable[[int, int, list[str]], None]) -> None:
    """In the sidebar, so the count and the actions stay in view while scrolling the gallery."""
    if not selection.ids:
        return
    k = selection.key
    with st.sidebar.container(border=True, key=f"{k}_actions"):
        st.markdown(f"**{len(selection.ids):,} selected**")
        tag = st.text_input("Tag", key=f"{k}_bulk_tag", placeholder="e.g. holiday")
        add, remove = st.columns(2)
        ids = sorted(selection.ids)
        if add.button("Add tag", key=f"{k}_bulk_add", disabled=not tag.strip(), icon=":material/sell:"):
            changed = widgets.attempt(library.update, ids, add_tags=parse_tags(tag))
            if changed is not None:
                st.toast(f"Tagged {changed} image(s)")
        if remove.button("Remove tag", key=f"{k}_bulk_remove", disabled=not tag.strip(), icon=":material/backspace:"):
            changed = widgets.attempt(library.update, ids, remove_tags=parse_tags(tag))
            if changed is not None:
                st.toast(f"Untagged {changed} image(s)")
        if st.button("Mark favourite", key=f"{k}_bulk_favourite", icon=":material/star:", width="stretch"):
            changed = widgets.attempt(library.update, ids, add_tags=[FAVOURITE])
            if changed is not None:
                st.toast(f"{changed} more favourite(s)")
        if st.button(f"Delete {len(ids):,}…", key=f"{k}_bulk_delete", icon=":material/delete:", width="stretch"):
            state[f"{k}_confirm_delete"] = True
    if state.get(f"{k}_confirm_delete"):
        _confirm_delete(library, selection, on_deleted)


def _dismissed() -> None:
    for name in [k for k in state if isinstance(k, str) and k.endswith("_confirm_delete")]:
        state[name] = False


@st.dialog("Delete these images?", width="large", on_dismiss=_dismissed)
def _confirm_delete(library, selection: Selection, on_deleted) -> None:
    k = selection.key
    ids = sorted(selection.ids)
    preview(library, ids=ids)
    st.caption("The original files are kept; the deletion can be undone.")
    yes, no = st.columns(2)
    if yes.button(f"Delete {len(ids):,} images", key=f"{k}_confirm_yes", type="primary", icon=":material/delete:"):
        version = library.version
        count = widgets.attempt(library.delete, ids=ids)
        state[f"{k}_confirm_delete"] = False
        if count is not None:
            selection.clear()
            on_deleted(count, version, ids)
            st.rerun()
    if no.button("Cancel", key=f"{k}_confirm_no"):
        state[f"{k}_confirm_delete"] = False
        st.rerun()


def preview(library, ids: Sequence[str] | None = None, where: str | None = None, total: int | None = None) -> None:
    """Thumbnails of the first images a delete would remove, and how many more."""
    if ids is not None:
        rows = library.get_many(list(ids)[:PREVIEW], with_thumbnail=True)
        total = len(ids) if total is None else total
    else:
        rows = library.page(limit=PREVIEW, where=where, with_thumbnail=True)
    thumbs = [r["thumbnail"] for r in rows if r.get("thumbnail")]
    if thumbs:
        st.image(thumbs, width=96)
    more = (total or 0) - len(rows)
    st.caption(f"{len(rows)} shown" + (f", and {more:,} more" if more > 0 else ""))
