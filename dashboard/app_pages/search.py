"""Search: text, image, "more like this" and "not this" terms, filters, a result grid and details."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import streamlit as st
from PIL import Image

from dashboard import photo_widgets, resources, search_modes, widgets
from pipeline.compose import QueryTerm
from pipeline.formats import upload_types
from pipeline.searching import SearchRequest, search
from store import LibraryError
from store.hybrid import default_mode
from store.errors import one_line

NEGATIVE_WEIGHT = 0.5  # how hard "not this" pushes away, relative to the positive terms
GRID_COLUMNS = 5

library = resources.get_library()
settings = resources.settings()
state = st.session_state

st.title("Search")
widgets.require_table(library)

encoder, model_error = resources.get_encoder()
from_url = search_modes.read_url_once()  # a shared link: fill the form from it and run its search


def like(row: dict) -> None:
    state.search_like = {"id": row["id"], "name": row.get("file_name") or row["id"][:12]}
    state.search_pending = True
    state.search_selected = None


def select(row: dict) -> None:
    state.search_selected = row["id"]
    state.search_confirm_delete = None


def load_more() -> None:
    """The next page of the same ranked list, appended: what is on screen stays where it is."""
    request = state.get("search_request")
    if request is None:
        return
    try:
        more = search(library, encoder, replace(request, offset=len(state.search_results)))
    except (LibraryError, ValueError) as error:
        state.search_error = str(error)
        return
    state.search_results = state.search_results + more.results
    state.search_has_more = more.has_more


def build_terms(text: str, negative: str, image_bytes: bytes | None, image_weight: float) -> list[QueryTerm]:
    visual: list[tuple[str, object]] = []
    if image_bytes:
        visual.append(("image", Image.open(io.BytesIO(image_bytes)).convert("RGB")))
    if state.get("search_like"):
        visual.append(("id", state.search_like["id"]))
    terms = []
    text_weight = 1.0 - image_weight if visual else 1.0
    if text.strip() and text_weight > 0:
        terms.append(QueryTerm("text", text.strip(), text_weight))
    visual_weight = (image_weight if text.strip() else 1.0) / max(len(visual), 1)
    if visual_weight > 0:
        terms.extend(QueryTerm(kind, value, visual_weight) for kind, value in visual)
    if negative.strip() and terms:
        terms.append(QueryTerm("text", negative.strip(), -NEGATIVE_WEIGHT))
    return terms


def run_search(where: str | None) -> None:
    upload = state.get("search_image")
    try:
        image_bytes = upload.getvalue() if upload is not None else None
        terms = build_terms(state.get("search_text", ""), state.get("search_negative", ""),
                            image_bytes, state.get("search_image_weight", 0.5))
    except (OSError, ValueError) as error:  # Pillow on a file that is not an image
        state.search_error = f"The query image cannot be read: {one_line(error)}"
        return
    if not terms:
        state.search_error = "Type a description, upload a picture, or pick \"More like this\" on a result."
        return
    if encoder is None and any(t.kind != "id" for t in terms) and state.get("search_mode") != "keyword":
        state.search_error = "Text and image queries need the model, which is not loaded (see the banner above)."
        return
    like_id = state.search_like["id"] if state.get("search_like") else None
    minimum = state.get("search_min_score", 0.0)
    mode = state.get("search_mode") or default_mode(library)
    words = state.get("search_text", "").strip()
    request = SearchRequest(
        terms=terms, text=words, mode=mode if words else None, k=int(state.get("search_k", 20)), where=where,
        min_score=minimum if minimum > 0 and mode != "keyword" else None, with_thumbnail=True,
        cutoff=state.get("search_cutoff", True), exclude_ids=[like_id] if like_id else (),
    )
    started = time.perf_counter()
    try:
        page = search(library, encoder, request)
    except (LibraryError, ValueError) as error:
        state.search_error = str(error)
        return
    state.search_seconds = time.perf_counter() - started
    state.search_results = page.results
    state.search_request, state.search_has_more = request, page.has_more
    search_modes.write_url(page.mode)
    state.search_error = None
    state.search_selected = None
    label = [f'"{t.value}"' for t in terms if t.kind == "text" and t.weight > 0]
    label += ["the uploaded picture" for t in terms if t.kind == "image"]
    label += [f"more like {state.search_like['name']}" for t in terms if t.kind == "id"]
    label += [f'not "{t.value}"' for t in terms if t.weight < 0]
    state.search_label = ", ".join(label)


# --- query form -------------------------------------------------------------------------------
with st.form("search_form", border=True):
    top = st.columns([3, 2])
    top[0].text_input("Describe what you are looking for", key="search_text",
                      placeholder="e.g. a dog running on a beach at sunset")
    top[1].text_input("Not this", key="search_negative", placeholder="e.g. people",
                      help=f"Pushes results away from this description (weight -{NEGATIVE_WEIGHT}).")
    middle = st.columns([3, 2])
    middle[0].file_uploader("Or find pictures like this one", key="search_image",
                            type=upload_types())
    middle[1].slider("Image weight (with text and image)", 0.0, 1.0, 0.5, 0.05, key="search_image_weight",
                     help="0 = text only, 1 = image only; applies when both are given.")
    bottom = st.columns([2, 2, 2, 1.3])
    with bottom[0]:
        search_modes.mode_input(default_mode(library))
    bottom[1].slider("Number of results (k)", 1, 100, 20, key="search_k")
    bottom[2].slider("Minimum similarity (0 = off)", 0.0, 1.0, 0.0, 0.01, key="search_min_score")
    bottom[3].checkbox("Hide weak matches", value=True, key="search_cutoff",
                       help="Drop results far below the best match (by meaning); words always count.")
    with st.expander("Filters"):
        spec = widgets.filter_inputs("search")
    submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")

if state.get("search_like"):
    chip = st.columns([6, 1])
    chip[0].info(f"More like **{state.search_like['name']}** (combined with any text above)",
                 icon=":material/image_search:")
    if chip[1].button("Clear", key="search_clear_like", icon=":material/close:"):
        state.search_like = None
        st.rerun()

if submitted or state.pop("search_pending", False) or from_url:
    where, filter_error = widgets.checked_where(library, spec)
    if filter_error:
        state.search_error = filter_error
        state.search_results = None
    else:
        run_search(where)

if model_error and not state.get("search_results"):
    st.caption("Without the model you can still use **More like this** from the Library page's gallery.")

if state.get("search_error"):
    st.error(state.search_error, icon=":material/error:")

if state.get("search_undo"):
    undo = st.columns([6, 1])
    undo[0].success(f"Deleted **{state.search_undo['name']}**.", icon=":material/delete:")
    if undo[1].button("Undo", key="search_undo_button", icon=":material/undo:"):
        try:
            library.undelete(state.search_undo["version"], ids=[state.search_undo["id"]])
            st.toast(f"Restored {state.search_undo['name']}")
        except LibraryError as error:
            st.error(str(error))
        state.search_undo = None
        st.rerun()

results = state.get("search_results")
if results is None:
    st.stop()

st.markdown(
    f"**{len(results)}** result{'s' if len(results) != 1 else ''} for {state.get('search_label', '')} "
    f"· {state.get('search_seconds', 0) * 1000:.0f} ms",
    help="Query time: encoding the query and searching the table.",
)
if not results:
    st.info("No image matches: loosen the filters or the minimum similarity.")
    st.stop()

view = st.radio("View", ["Grid", "Table"], horizontal=True, key="search_view", label_visibility="collapsed")
selected = next((r for r in results if r["id"] == state.get("search_selected")), None)

if view == "Table":
    table = [{
        "thumbnail": widgets.thumbnail_url(r.get("thumbnail")), "name": r.get("file_name"),
        "score": round(r.get("similarity", r["score"]), 4), "found by": " + ".join(r.get("found_by") or []),
        "format": r.get("format"), "width": r.get("width"),
        "height": r.get("height"), "size": widgets.human_bytes(r.get("file_size") or 0),
        "tags": ", ".join(r.get("tags") or []), "description": r.get("description"), "uri": r.get("uri"),
    } for r in results]
    event = st.dataframe(
        table, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
        key="search_table", column_config={"thumbnail": st.column_config.ImageColumn("preview", width="small"),
                                           "score": st.column_config.NumberColumn(format="%.3f")},
    )
    rows = getattr(getattr(event, "selection", None), "rows", None) or []
    if rows:
        selected = results[rows[0]]
        state.search_selected = selected["id"]
    grid_area, detail_area = st.container(), st.container()
else:
    if selected:
        grid_area, detail_area = st.columns([3, 1.3], gap="medium")
    else:
        grid_area, detail_area = st.container(), None
    columns = GRID_COLUMNS - 1 if selected else GRID_COLUMNS
    with grid_area:
        for start in range(0, len(results), columns):
            cells = st.columns(columns)
            for cell, row in zip(cells, results[start:start + columns]):
                with cell.container(border=True):
                    if row.get("thumbnail"):
                        st.image(row["thumbnail"], width="stretch")
                    st.markdown(f"**{row.get('similarity', row['score']):.3f}** · {row.get('file_name') or row['id'][:12]}  \n"
                                + search_modes.badge(row))
                    st.button("Open", key=f"search_open_{row['id']}", on_click=select, args=(row,),
                              type="primary" if selected and selected["id"] == row["id"] else "secondary",
                              width="stretch", icon=":material/open_in_full:")
                    st.button("Similar", key=f"search_like_{row['id']}", on_click=like, args=(row,),
                              help="More like this", width="stretch", icon=":material/image_search:")

if state.get("search_has_more"):
    (grid_area if view == "Grid" else st).button("Load more", key="search_load_more", on_click=load_more,
                                                  icon=":material/expand_more:")

if selected and detail_area is not None:
    with detail_area, st.container(border=True):
        st.subheader(selected.get("file_name") or selected["id"][:12])
        widgets.show_original(selected)
        st.markdown(search_modes.badge(selected))
        st.markdown(
            f"Score **{selected.get('similarity', selected['score']):.4f}** · {selected.get('format') or '?'} · "
            f"{selected.get('width')}×{selected.get('height')} · {widgets.human_bytes(selected.get('file_size') or 0)}"
        )
        photo_widgets.photo_details(selected)
        if selected.get("description"):
            st.markdown(selected["description"])
        if selected.get("tags"):
            st.markdown(" ".join(f":blue-badge[{t}]" for t in selected["tags"]))
        indexed = selected.get("indexed_at")
        st.caption(f"Indexed {indexed:%Y-%m-%d %H:%M} UTC" if indexed else "")
        st.caption(f"`{selected.get('uri')}`")
        st.caption(f"id `{selected['id']}`")
        actions = st.columns(2)
        actions[0].button("More like this", key="search_detail_like", on_click=like, args=(selected,),
                          icon=":material/image_search:", width="stretch")
        if not settings.read_only:
            if actions[1].button("Delete", key="search_detail_delete", icon=":material/delete:", width="stretch"):
                state.search_confirm_delete = selected["id"]
            if state.get("search_confirm_delete") == selected["id"]:
                st.warning("Delete this image from the library? (The original file is kept.)")
                confirm = st.columns(2)
                if confirm[0].button("Yes, delete", key="search_confirm_yes", type="primary"):
                    version = library.table.version
                    library.delete(ids=[selected["id"]])
                    state.search_undo = {"version": version, "id": selected["id"],
                                         "name": selected.get("file_name") or selected["id"][:12]}
                    state.search_results = [r for r in results if r["id"] != selected["id"]]
                    state.search_selected = state.search_confirm_delete = None
                    st.rerun()
                if confirm[1].button("Cancel", key="search_confirm_no"):
                    state.search_confirm_delete = None
                    st.rerun()
