"""The Library page's History tab: each version in words, maintenance folded away, and a restore that
says how many images it would remove before it runs."""

from __future__ import annotations

import streamlit as st

from dashboard import widgets
from store.history import describe_versions, restore_preview

state = st.session_state


def _what(v: dict) -> str:
    if v["operation"] == "created":
        return "table created"
    if v["added"] and v["removed"]:
        return f"{v['operation']}: +{v['added']:,} / -{v['removed']:,}"
    if v["added"]:
        return f"{v['operation']} {v['added']:,} image{'s' if v['added'] != 1 else ''}"
    if v["removed"]:
        return f"{v['operation']} {v['removed']:,} image{'s' if v['removed'] != 1 else ''}"
    return v["operation"]


def history_tab(library, current_version: int, read_only: bool) -> None:
    versions = list(reversed(describe_versions(library)))
    show_all = st.toggle("Show maintenance versions (compaction, index builds)", key="library_history_all")
    maintenance = sum(1 for v in versions if v["maintenance"])
    shown = [v for v in versions if show_all or not v["maintenance"] or v["version"] == current_version]
    st.caption("Every add, edit and delete is a version. Restoring makes an old version current again as a new "
               "version, so a restore can be undone too."
               + (f" {maintenance} maintenance version(s) hidden." if maintenance and not show_all else ""))
    st.dataframe([{"version": v["version"], "time": v["timestamp"], "what": _what(v), "images": v["rows"],
                   "current": "current" if v["version"] == current_version else ""} for v in shown],
                 hide_index=True, width="stretch", key="library_versions")
    choices = [v["version"] for v in shown if v["version"] != current_version]
    if read_only or not choices:
        return
    labels = {v["version"]: f"version {v['version']} · {_what(v)} · {v['rows']} images" for v in versions}
    # Keyed by the current version: after any write the choice starts again at the version just before
    # it, instead of keeping a stale pick (the browser would send the old one back).
    target = st.selectbox("Version to restore", choices, format_func=labels.get,
                          key=f"library_restore_version_{current_version}")
    change = restore_preview(library, int(target))
    if change["removed"]:
        st.warning(f"Restoring version {target} removes **{change['removed']:,}** image"
                   f"{'s' if change['removed'] != 1 else ''} added since"
                   + (f" and brings back {change['added']:,}" if change["added"] else "") + ".",
                   icon=":material/warning:")
    elif change["added"]:
        st.info(f"Restoring version {target} brings back {change['added']:,} image(s) and removes none.")
    if st.button("Restore this version", key="library_restore", icon=":material/history:"):
        if widgets.attempt(lambda: library.restore(int(target)) or True):
            state.library_undo = None
            state.library_message = f"Restored version {target}: the library has {library.count():,} images again."
            st.rerun()


__all__ = ["history_tab"]
