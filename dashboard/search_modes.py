"""The Search page's mode switch, provenance badges, "Load more", and shareable URLs.

A search writes its query, mode, k and filters into the page URL (`st.query_params`), so it can be
bookmarked or sent; opening such a URL fills the form from it and runs the search. Only what a URL
can carry goes in: the text, not an uploaded picture or a "more like this" choice.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

from store.hybrid import MODES

MODE_LABELS = {"hybrid": "Words and meaning", "semantic": "Meaning", "keyword": "Words"}
BADGES = {"semantic": ":violet-badge[:material/visibility: meaning]", "keyword": ":orange-badge[:material/notes: words]"}
# URL parameter -> session-state key of the form widget it fills. Short names keep links readable.
URL_KEYS = {"q": "search_text", "not": "search_negative", "mode": "search_mode", "k": "search_k",
            "min": "search_min_score", "fmt": "search_formats", "tags": "search_tags", "sql": "search_sql",
            "minkb": "search_min_kb", "maxkb": "search_max_kb", "from": "search_date_from", "to": "search_date_to",
            "cutoff": "search_cutoff"}
K_RANGE = (1, 100)


def mode_input(default: str) -> str:
    """The mode switch (the table's default preselected); returns the chosen mode."""
    if st.session_state.get("search_mode") not in MODES:
        st.session_state.search_mode = default
    return st.segmented_control("Search by", MODES, key="search_mode", format_func=MODE_LABELS.get,
                                help="Words: file names, descriptions and tags. Meaning: what the picture "
                                     "shows (CLIP). Both: the two result lists fused by rank.") or default


def badge(row: dict) -> str:
    """Which side found a result: meaning, words, or both."""
    return " ".join(BADGES[side] for side in row.get("found_by") or () if side in BADGES)


def _parse(key: str, raw: str):
    """A URL value as the widget's type; ValueError for anything that does not fit."""
    if key in ("k", "minkb", "maxkb"):
        value = int(raw)
        if key == "k" and not K_RANGE[0] <= value <= K_RANGE[1]:
            raise ValueError(raw)
        if value < 0:
            raise ValueError(raw)
        return value
    if key == "min":
        value = float(raw)
        if not 0.0 <= value <= 1.0:
            raise ValueError(raw)
        return value
    if key == "mode":
        if raw not in MODES:
            raise ValueError(raw)
        return raw
    if key == "fmt":
        return [f for f in raw.split(",") if f]
    if key in ("from", "to"):
        return date.fromisoformat(raw)
    if key == "cutoff":
        return raw not in ("0", "false", "off")
    return raw


def read_url_once() -> bool:
    """On a session's first run, fill the form from the URL; True when the URL held a query to run.
    A value that does not fit its widget is ignored (the rest of the link still works)."""
    state = st.session_state
    if state.get("search_url_read"):
        return False
    state.search_url_read = True
    params = st.query_params
    for name, key in URL_KEYS.items():
        if name in params:
            try:
                state[key] = _parse(name, params[name])
            except ValueError:
                continue
    dates = [d for d in (state.pop("search_date_from", None), state.pop("search_date_to", None)) if d]
    if dates:
        state.search_dates = tuple(dates)
    return bool(str(state.get("search_text") or "").strip())


def write_url(mode: str) -> None:
    """Put the current form into the URL (only what differs from the defaults)."""
    state = st.session_state
    values = {"q": (state.get("search_text") or "").strip(), "not": (state.get("search_negative") or "").strip(),
              "mode": mode, "k": state.get("search_k", 20), "min": state.get("search_min_score", 0.0),
              "fmt": ",".join(state.get("search_formats") or []), "tags": state.get("search_tags") or "",
              "sql": state.get("search_sql") or "", "minkb": state.get("search_min_kb") or 0,
              "maxkb": state.get("search_max_kb") or 0,
              "cutoff": "" if state.get("search_cutoff", True) else "0"}
    dates = state.get("search_dates") or ()
    if isinstance(dates, (tuple, list)) and dates:
        values["from"] = dates[0].isoformat()
        if len(dates) > 1:
            values["to"] = dates[1].isoformat()
    st.query_params.from_dict({name: str(v) for name, v in values.items() if v not in ("", 0, 0.0, None)})
