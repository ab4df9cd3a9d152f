"""Shared, process-wide handles (library, encoder) and the settings that pick them.

Settings are read from the environment on every rerun (pipeline/settings.py, the one reader), and
the cached factories are keyed by them, so two apps (or two tests) with different settings in one
process never share a handle by mistake. Everything cached here is shared by all sessions:
ImageLibrary and ClipEncoder are thread-safe.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from pipeline.settings import Settings
from store import ImageLibrary
from store.errors import one_line


def settings() -> Settings:
    return Settings.load()


@st.cache_resource(show_spinner=False)
def _library(s: Settings) -> ImageLibrary:
    # A one-second consistency interval: rows from a running bulk job show up without a restart.
    # The read-only flag goes to the library itself, so every write path is refused, not only hidden.
    return s.open_library(read_consistency_interval=timedelta(seconds=1))


def get_library() -> ImageLibrary:
    return _library(settings())


def model_id() -> str:
    """IMAGESEARCH_MODEL, else the model the table was built with, else the default."""
    try:
        library = get_library()
        library.recorded_model()
    except Exception:  # noqa: BLE001 - an unreadable table is reported elsewhere
        library = None
    return settings().model_for(library)


@st.cache_resource(show_spinner="Loading the model...")
def _encoder(model: str, device: str):
    """(encoder, None) or (None, one-line reason). Failures are cached too: retrying an offline
    download on every rerun would stall every page; `forget_model_failure` retries on demand."""
    from pipeline.encoder import ClipEncoder, ModelUnavailableError

    from store import scans

    encoder = ClipEncoder(model, device=device)
    scans.warm_up()  # the vector cache's int8 kernels, also the first searches' cost (~1 s)
    try:
        encoder.model  # noqa: B018 - load now, so the first search is not the slow one
    except ModelUnavailableError as error:
        return None, str(error)
    except Exception as error:  # noqa: BLE001 - any loading failure leaves the model-free pages working
        return None, f"Cannot load model '{model}': {one_line(error)}"
    return encoder, None


def get_encoder():
    """(ClipEncoder, None) when the model loads, else (None, message saying how to fix it)."""
    return _encoder(model_id(), settings().device)


def forget_model_failure() -> None:
    _encoder.clear()


def media_dir() -> str:
    """The media folder for kept files; raises ValueError with the fix for a remote database."""
    return settings().media_dir()


@st.cache_resource(show_spinner=False)
def _generator(s: Settings):
    from pipeline.generate import Generator

    return Generator.from_settings(s)


def get_generator():
    return _generator(settings())


@st.cache_data(ttl=60, show_spinner=False)
def generator_problem(model_id: str) -> str | None:
    """Why the diffusion model cannot load (one sentence with the fix), or None. Rechecked every minute,
    so downloading the weights fixes the page without a restart."""
    from pipeline.generate import GeneratorUnavailableError

    try:
        get_generator().check_available()
    except GeneratorUnavailableError as error:
        return str(error)
    return None
