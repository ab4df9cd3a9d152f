"""Result and gallery tiles: even cards (fixed-height thumbnail, one-line name, folder under it),
small actions, an optional selection checkbox; and the compact list mode."""

from __future__ import annotations

from typing import Callable, Sequence

import streamlit as st

from dashboard import widgets
from dashboard.text import esc
from store.insights import folder_of


def name_of(row: dict) -> str:
    return row.get("file_name") or row["id"][:12]


def folder_tail(row: dict, parts: int = 2) -> str:
    """The last folders of the uri ('…/trips/rome'), enough to tell two 'IMG_0001.jpg' apart."""
    folder = folder_of(row.get("uri") or "")
    pieces = [p for p in folder.split("/") if p]
    return ("…/" if len(pieces) > parts else "/") + "/".join(pieces[-parts:]) if pieces else folder


def grid(
    rows: Sequence[dict],
    key: str,
    columns: int,
    on_open: Callable[[int], None],
    on_like: Callable[[dict], None] | None = None,
    selection: "Selection | None" = None,  # noqa: F821 - dashboard.selection.Selection
    open_key: str | None = None,
    badge: Callable[[dict], str] | None = None,  # our own Markdown (e.g. which search side found it)
) -> None:
    """Cards in rows of `columns`; the container key ends in `_grid` (see dashboard/style.py)."""
    open_key = open_key or f"{key}_open_"
    with st.container(key=f"{key}_grid"):
        for start in range(0, len(rows), columns):
            cells = st.columns(columns)
            for offset, (cell, row) in enumerate(zip(cells, rows[start:start + columns])):
                index = start + offset
                with cell.container(border=True):
                    if row.get("thumbnail"):
                        st.image(row["thumbnail"], width="stretch")
                    # Cosine similarity where there is one (a hybrid result's `score` is its fused rank score).
                    score = f"{row.get('similarity', row['score']):.3f} · " if "score" in row else ""
                    st.html(f'<div class="tile-name" title="{esc(name_of(row))}">{esc(score)}{esc(name_of(row))}</div>'
                            f'<div class="tile-folder" title="{esc(row.get("uri"))}">{esc(folder_tail(row))}</div>')
                    if badge and badge(row):
                        st.markdown(badge(row))
                    # Stacked, not side by side: two labels never fit a narrow tile without being cut.
                    st.button("View", key=f"{open_key}{row['id']}", on_click=on_open, args=(index,),
                              icon=":material/open_in_full:", type="tertiary", width="stretch")
                    if on_like:
                        st.button("Similar", key=f"{key}_like_{row['id']}", on_click=on_like, args=(row,),
                                  help="More like this", icon=":material/image_search:", type="tertiary",
                                  width="stretch")
                    if selection is not None:
                        selection.checkbox(row["id"], "Select")


def compact_list(rows: Sequence[dict], key: str) -> int | None:
    """One line per image (thumbnail, name, folder, size...); returns the index of a clicked row."""
    table = [{
        "thumbnail": widgets.thumbnail_url(r.get("thumbnail")), "name": name_of(r), "folder": folder_tail(r),
        **({"score": round(r["score"], 4)} if "score" in r else {}),
        "format": r.get("format"), "width": r.get("width"), "height": r.get("height"),
        "size": widgets.human_bytes(r.get("file_size") or 0), "tags": ", ".join(r.get("tags") or []),
        "description": r.get("description"), "uri": r.get("uri"),
    } for r in rows]
    event = st.dataframe(
        table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row", key=key,
        column_config={"thumbnail": st.column_config.ImageColumn("preview", width="small"),
                       "score": st.column_config.NumberColumn(format="%.3f")},
    )
    picked = getattr(getattr(event, "selection", None), "rows", None) or []
    return picked[0] if picked else None


__all__ = ["grid", "compact_list", "name_of", "folder_tail"]
