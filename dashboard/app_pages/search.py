"""Search: text, image, "more like this" and "not this" terms, filters, a result grid and details."""

from __future__ import annotations

import time
from dataclasses import replace

import streamlit as st

from dashboard import resources, search_modes, style, tiles, viewer, widgets
from dashboard.text import md
from pipeline.compose import QueryTerm
from pipeline.formats import upload_types
from pipeline.images import decode_image
from pipeline.searching import SearchRequest, search
from store import LibraryError
from store.hybrid import default_mode

NEGATIVE_WEIGHT = 0.5  # how hard "not this" pushes away, relative to the positive terms
GRID_COLUMNS = 5

library = resources.get_library()
settings = resources.settings()
state = st.session_state

style.apply()
st.title("Search")
widgets.require_table(library)

encoder, model_error = resources.get_encoder()
from_url = search_modes.read_url_once()  # a shared link: fill the form from it and run its search
if state.get("search_image_bytes"):  # "Search similar" on the Generate page hands its picture over
    state.search_handed_image = state.pop("search_image_bytes")
    state.search_pending = True


def like(row: dict) -> None:
    state.search_like = {"id": row["id"], "name": row.get("file_name") or row["id"][:12]}
    state.search_pending = True


def open_result(index: int) -> None:
    viewer.open_at([r["id"] for r in state.get("search_results") or []], index)


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


def deleted(row: dict, version: int) -> None:
    state.search_undo = {"version": version, "id": row["id"], "name": row.get("file_name") or row["id"][:12]}
    state.search_results = [r for r in state.get("search_results") or [] if r["id"] != row["id"]]


class QueryImageError(ValueError):
    """The uploaded query picture cannot be decoded (one-line reason from the indexing decoder)."""


def query_image(image_bytes: bytes, name: str):
    """Decoded by the same safe decoder as indexing: limits, formats and one-line reasons included."""
    decoded = decode_image(image_bytes, name, settings.limits)
    if not decoded.ok:
        raise QueryImageError(f"The query image {name} cannot be used: {decoded.error}")
    return decoded.image


def build_terms(text: str, negative: str, image_bytes: bytes | None, image_weight: float,
                image_name: str = "upload") -> list[QueryTerm]:
    visual: list[tuple[str, object]] = []
    if image_bytes:
        visual.append(("image", query_image(image_bytes, image_name)))
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
    handed = state.pop("search_handed_image", None)  # a generated picture, used for this search only
    state.search_results = None  # a failed query must not leave the last results under its label
    try:
        image_bytes = upload.getvalue() if upload is not None else handed
        terms = build_terms(state.get("search_text", ""), state.get("search_negative", ""),
                            image_bytes, state.get("search_image_weight", 0.5),
                            image_name=getattr(upload, "name", "generated.png" if handed else "upload"))
    except QueryImageError as error:
        state.search_error = str(error)
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
    viewer.close()
    label = [f'"{t.value}"' for t in terms if t.kind == "text" and t.weight > 0]
    label += ["the generated picture" if handed else "the uploaded picture" for t in terms if t.kind == "image"]
    label += [f"more like {state.search_like['name']}" for t in terms if t.kind == "id"]
    label += [f'not "{t.value}"' for t in terms if t.weight < 0]
    state.search_label = ", ".join(label)


# --- query form: one line on top (the grid stays above the fold), the rest folded away ---------
with st.form("search_form", border=False):
    top = st.columns([6, 3, 1.2], vertical_alignment="bottom")
    top[0].text_input("Describe what you are looking for", key="search_text",
                      placeholder="e.g. a dog running on a beach at sunset")
    top[1].text_input("Not this", key="search_negative", placeholder="e.g. people",
                      help=f"Pushes results away from this description (weight -{NEGATIVE_WEIGHT}).")
    submitted = top[2].form_submit_button("Search", type="primary", icon=":material/search:", width="stretch")
    picture, options = st.columns(2)
    with picture.expander("Search by picture", icon=":material/image_search:"):
        st.file_uploader("Find pictures like this one", key="search_image", type=upload_types())
        st.slider("Image weight (with text and image)", 0.0, 1.0, 0.5, 0.05, key="search_image_weight",
                  help="0 = text only, 1 = image only; applies when both are given.")
    with options.expander("Filters and options", icon=":material/tune:"):
        modes = st.columns([2, 1.3], vertical_alignment="bottom")
        with modes[0]:
            search_modes.mode_input(default_mode(library))
        modes[1].checkbox("Hide weak matches", value=True, key="search_cutoff",
                          help="Drop results far below the best match (by meaning); words always count.")
        bottom = st.columns(2)
        bottom[0].slider("Number of results (k)", 1, 100, 20, key="search_k")
        bottom[1].slider("Minimum similarity (0 = off)", 0.0, 1.0, 0.0, 0.01, key="search_min_score")
        spec = widgets.filter_inputs("search", library)

if state.get("search_like"):
    chip = st.columns([6, 1])
    chip[0].info(f"More like **{md(state.search_like['name'])}** (combined with any text above)",
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
    st.caption("Without the model you can still open a picture in the Library page's gallery and use "
               "**More like this** there.")

if state.get("search_error"):
    st.error(state.search_error, icon=":material/error:")

def undo_banner() -> None:
    if state.get("search_restored"):
        st.success(f"Restored **{md(state.pop('search_restored'))}**.", icon=":material/undo:")
    if not state.get("search_undo"):
        return
    undo = st.columns([6, 1])
    undo[0].success(f"Deleted **{md(state.search_undo['name'])}**.", icon=":material/delete:")
    if undo[1].button("Undo", key="search_undo_button", icon=":material/undo:"):
        if widgets.attempt(library.undelete, state.search_undo["version"], ids=[state.search_undo["id"]]) is not None:
            state.search_restored = state.search_undo["name"]
            state.search_undo = None
            st.rerun()


results = state.get("search_results")
if results is None:
    undo_banner()
    st.stop()

head = st.columns([5, 1], vertical_alignment="center")
head[0].markdown(
    f"**{len(results)}** result{'s' if len(results) != 1 else ''} for {md(state.get('search_label', ''))} "
    f"· {state.get('search_seconds', 0) * 1000:.0f} ms",
    help="Query time: encoding the query and searching the table.",
)
view = head[1].segmented_control("View", ["Grid", "List"], default="Grid", key="search_view",
                                 label_visibility="collapsed") or "Grid"
undo_banner()  # right above the results, where the person is looking
if not results:
    st.info("No image matches: loosen the filters or the minimum similarity.")
    st.stop()

if view == "List":
    picked = tiles.compact_list(results, key="search_table")
    if picked is not None and not viewer.is_open() and state.get("search_list_opened") != picked:
        state.search_list_opened = picked
        open_result(picked)
else:
    tiles.grid(results, key="search", columns=GRID_COLUMNS, on_open=open_result, on_like=like,
               badge=search_modes.badge)

if state.get("search_has_more"):
    st.button("Load more", key="search_load_more", on_click=load_more, icon=":material/expand_more:")

viewer.show(library, results, settings.read_only, on_like=like, on_deleted=deleted)
