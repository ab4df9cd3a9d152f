"""Shared, process-wide handles (library, encoder) and the settings that pick them.

Settings come from the environment on every rerun, and the cached factories are keyed by them, so
two apps (or two tests) with different settings in one process never share a handle by mistake.
Everything cached here is shared by all sessions: ImageLibrary and ClipEncoder are thread-safe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import streamlit as st

from pipeline.media import resolve_media_dir
from store import DEFAULT_TABLE, ImageLibrary, resolve_db
from store.errors import one_line
from store.library import read_only_from_env

@dataclass(frozen=True)
class Settings:
    db: str
    table: str
    model: str | None  # None: the table's model, else the default
    read_only: bool
    media: str | None  # None: a remote database and no IMAGESEARCH_MEDIA, so uploads have nowhere to go


def _media_dir(db: str) -> str | None:
    try:
        return resolve_media_dir(db)
    except ValueError:
        return None


def settings() -> Settings:
    db = resolve_db(None)
    return Settings(
        db=db,
        table=os.environ.get("IMAGESEARCH_TABLE") or DEFAULT_TABLE,
        model=os.environ.get("IMAGESEARCH_MODEL") or None,
        read_only=read_only_from_env(),
        media=_media_dir(db),
    )


@st.cache_resource(show_spinner=False)
def _library(db: str, table: str) -> ImageLibrary:
    # A one-second consistency interval: rows from a running bulk job show up without a restart.
    return ImageLibrary(db, table, read_consistency_interval=timedelta(seconds=1))


def get_library() -> ImageLibrary:
    s = settings()
    return _library(s.db, s.table)


def model_id() -> str:
    """IMAGESEARCH_MODEL, else the model the table was built with, else the default."""
    from pipeline.encoder import resolve_model

    try:
        table_model = get_library().recorded_model()
    except Exception:  # noqa: BLE001 - an unreadable table is reported elsewhere
        table_model = None
    return resolve_model(settings().model, table_model)


@st.cache_resource(show_spinner="Loading the model...")
def _encoder(model: str):
    """(encoder, None) or (None, one-line reason). Failures are cached too: retrying an offline
    download on every rerun would stall every page; `forget_model_failure` retries on demand."""
    from pipeline.encoder import ClipEncoder, ModelUnavailableError

    encoder = ClipEncoder(model, device=os.environ.get("IMAGESEARCH_DEVICE", "auto"))
    try:
        encoder.model  # noqa: B018 - load now, so the first search is not the slow one
    except ModelUnavailableError as error:
        return None, str(error)
    except Exception as error:  # noqa: BLE001 - any loading failure leaves the model-free pages working
        return None, f"Cannot load model '{model}': {one_line(error)}"
    return encoder, None


def get_encoder():
    """(ClipEncoder, None) when the model loads, else (None, message saying how to fix it)."""
    return _encoder(model_id())


def forget_model_failure() -> None:
    _encoder.clear()


def library_ready(library: ImageLibrary) -> bool:
    return library.exists()


def media_dir() -> str:
    """The media folder for kept files; raises ValueError with the fix for a remote database."""
    return resolve_media_dir(settings().db)


@st.cache_resource(show_spinner=False)
def get_generator():
    from pipeline.generate import Generator

    return Generator.from_env()


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
