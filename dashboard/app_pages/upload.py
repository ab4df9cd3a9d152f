"""Upload: many files at once, with a description and tags; per-file outcome; searchable at once."""

from __future__ import annotations

import streamlit as st

from dashboard import resources
from dashboard.text import md
from pipeline.formats import formats_sentence, upload_types
from pipeline.uploads import DUPLICATE, INDEXED, REJECTED, index_uploads
from store import LibraryError
from store.filters import parse_tags

PREVIEWS = 12
library = resources.get_library()
settings = resources.settings()
state = st.session_state

st.title("Upload")
if settings.read_only:
    st.info("This dashboard is read-only (IMAGESEARCH_READ_ONLY=1): uploading is disabled.", icon=":material/lock:")
    st.stop()

encoder, model_error = resources.get_encoder()
if model_error:
    st.error("Uploading needs the model to compute each picture's vector; it is not loaded (see the banner above).",
             icon=":material/error:")
    st.stop()

# The uploader states the limit the decoder enforces, not Streamlit's own default of 200 MB.
limit_mb = max(1, settings.limits.max_file_bytes // (1024 * 1024))
files = st.file_uploader(
    "Pictures", accept_multiple_files=True, key=f"upload_files_{state.get('upload_round', 0)}",
    type=upload_types(), max_upload_size=limit_mb,
    help=f"{formats_sentence()}, up to {limit_mb} MB each. Each file is stored once, named by its content hash.",
)
if files:
    st.caption(f"{len(files)} file{'s' if len(files) != 1 else ''} selected"
               + (f" (previewing the first {PREVIEWS})" if len(files) > PREVIEWS else ""))
    cells = st.columns(6)
    for i, file in enumerate(files[:PREVIEWS]):
        with cells[i % 6]:
            try:
                st.image(file.getvalue(), caption=file.name, width="stretch")
            except Exception:  # noqa: BLE001 - not an image: the outcome table will say why
                st.caption(f"{file.name}: no preview")

description = st.text_area("Description (for every file in this upload)", key="upload_description", height=80)
tags_text = st.text_input("Tags (comma-separated)", key="upload_tags", placeholder="e.g. holiday, 2024, beach")

if st.button(f"Index {len(files or [])} file{'s' if len(files or []) != 1 else ''}", type="primary",
             disabled=not files, key="upload_go", icon=":material/upload:"):
    bar = st.progress(0.0, text="Reading files...")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text="Writing to the library..." if done == total - 1 else f"Decoded {done} of {total - 1}")

    try:
        outcomes = index_uploads(
            library, encoder, [(f.name, f.getvalue()) for f in files],
            description=description.strip(), tags=parse_tags(tags_text), media=resources.media_dir(), limits=settings.limits,
            progress=progress,
        )
    except (LibraryError, ValueError) as error:  # ValueError: no media folder for a remote database
        bar.empty()
        st.error(str(error), icon=":material/error:")
        st.stop()
    bar.progress(1.0, text="Done")
    state.upload_outcomes = [o.__dict__ for o in outcomes]
    state.upload_round = state.get("upload_round", 0) + 1  # a fresh, empty uploader next time
    st.rerun()

outcomes = state.get("upload_outcomes")
if outcomes:
    counts = {s: sum(1 for o in outcomes if o["status"] == s) for s in (INDEXED, DUPLICATE, REJECTED)}
    summary = (f"**{counts[INDEXED]}** indexed · **{counts[DUPLICATE]}** already in the library · "
               f"**{counts[REJECTED]}** rejected")
    (st.success if counts[INDEXED] else st.warning)(summary, icon=":material/task_alt:")
    # Rejections first and whole: they are what the person has to act on.
    for o in outcomes:
        if o["status"] == REJECTED:
            st.error(f"**{md(o['name'])}** was not added: {md(o['reason'])}", icon=":material/block:")
    order = {REJECTED: 0, INDEXED: 1, DUPLICATE: 2}
    st.dataframe(
        [{"file": o["name"], "result": o["status"], "reason": o["reason"], "id": o["id"][:16]}
         for o in sorted(outcomes, key=lambda o: order.get(o["status"], 3))],
        hide_index=True, width="stretch", key="upload_table",
        column_config={"reason": st.column_config.TextColumn(width="large")},
    )
    if counts[INDEXED]:
        st.page_link("app_pages/search.py", label="Search them now",
                     icon=":material/search:")
