"""The dashboard's frame: page config, sidebar, navigation. `streamlit run dashboard/app.py`."""

from __future__ import annotations

import os

import streamlit as st

from dashboard import resources  # the project is installed (pip install -e .): no sys.path edits
from dashboard.text import md
from store import LibraryError

PAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app_pages")

st.set_page_config(page_title="Image library", page_icon=":material/photo_library:", layout="wide")

settings = resources.settings()
library = resources.get_library()

with st.sidebar:
    st.markdown("### :material/photo_library: Image library")
    try:
        exists = library.exists()
        rows = library.count() if exists else 0
        table_model, dim = library.model_info() if exists else (None, None)
    except LibraryError as error:
        exists, rows, table_model, dim = False, 0, None, None
        st.error(str(error))
    st.caption(f"Database  \n{md(settings.db)}")
    st.markdown(f"Table **{settings.table}** · **{rows:,}** images" if exists else
                f"Table **{settings.table}** · not created yet")
    requested = resources.model_id()
    if table_model:  # the dimension belongs to the table's model, so it is shown beside that name
        st.caption(f"Model  \n{md(table_model)} · dim {dim}")
        if requested != table_model:
            st.caption(f"Requested model  \n{md(requested)}")
    else:
        st.caption(f"Model  \n{md(requested)}")
    if settings.read_only:
        st.info("Read-only mode: upload, editing, delete, clear and restore are hidden.", icon=":material/lock:")

encoder, model_error = resources.get_encoder()
if model_error:
    st.warning(
        f"**Model not loaded**: {model_error} Text and image search and upload need it; "
        "browsing, **More like this** (open a picture in the Library gallery), statistics and maintenance "
        "still work.",
        icon=":material/warning:",
    )
    if st.sidebar.button("Retry loading the model", key="app_retry_model"):
        resources.forget_model_failure()
        st.rerun()
elif exists and table_model and table_model != encoder.model_id:
    st.error(
        f"The table holds vectors from **{table_model}** but the dashboard loaded **{encoder.model_id}**: "
        f"unset IMAGESEARCH_MODEL or set it to {table_model}, or choose another IMAGESEARCH_TABLE.",
        icon=":material/error:",
    )

pages = [st.Page(os.path.join(PAGES, "search.py"), title="Search", icon=":material/search:", default=True)]
if not settings.read_only:
    pages.append(st.Page(os.path.join(PAGES, "upload.py"), title="Upload", icon=":material/upload:"))
pages.append(st.Page(os.path.join(PAGES, "library.py"), title="Library", icon=":material/photo_library:"))
pages.append(st.Page(os.path.join(PAGES, "duplicates.py"), title="Duplicates", icon=":material/content_copy:"))
if os.path.exists(os.path.join(PAGES, "generate.py")):  # written under its own issue
    pages.append(st.Page(os.path.join(PAGES, "generate.py"), title="Generate", icon=":material/brush:"))

st.navigation(pages).run()
