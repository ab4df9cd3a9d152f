"""Cached, process-wide resources for the Generate page: the diffusion pipeline, the library and the
CLIP encoder. `st.cache_resource` shares them between all users, so each must be thread-safe:
`Generator` and `ClipEncoder` load under locks, and one generation runs at a time per process.
(dashboard/resources.py holds the app-wide handles; these will be merged into it.)
"""

from __future__ import annotations

import os

import streamlit as st

from pipeline.encoder import DEFAULT_MODEL, ClipEncoder
from pipeline.generate import Generator, GeneratorUnavailableError
from pipeline.media import resolve_media_dir
from store import DEFAULT_TABLE, ImageLibrary, resolve_db


def read_only() -> bool:
    return os.environ.get("IMAGESEARCH_READ_ONLY", "").strip().lower() in ("1", "true", "yes", "on")


@st.cache_resource(show_spinner=False)
def get_generator() -> Generator:
    return Generator.from_env()


@st.cache_data(ttl=60, show_spinner=False)
def generator_problem(model_id: str) -> str | None:
    """Why the diffusion model cannot load (one sentence with the fix), or None. Rechecked every minute,
    so downloading the weights fixes the page without a restart."""
    try:
        get_generator().check_available()
    except GeneratorUnavailableError as error:
        return str(error)
    return None


@st.cache_resource(show_spinner=False)
def get_library() -> ImageLibrary:
    return ImageLibrary(resolve_db(None), os.environ.get("IMAGESEARCH_TABLE", DEFAULT_TABLE))


@st.cache_resource(show_spinner=False)
def get_encoder() -> ClipEncoder:
    """$IMAGESEARCH_MODEL, else the model the table was built with, else the default CLIP."""
    model = os.environ.get("IMAGESEARCH_MODEL")
    library = get_library()
    if not model and library.exists():
        model = library.model_info()[0]
    return ClipEncoder(model or DEFAULT_MODEL, device=os.environ.get("IMAGESEARCH_DEVICE", "auto"))


def media_dir() -> str:
    return resolve_media_dir(get_library().db_uri)
