"""The dashboard's few style rules: even tiles, one-line names, and a two-column grid on phones.

Streamlit stacks every st.columns row into one column below 640 px; the result grids (containers
keyed `*_grid`) keep two columns there instead, so a phone shows more than one picture per screen.
"""

import streamlit as st

CSS = """
<style>
[class*="st-key-"][class*="_grid"] [data-testid="stImage"] img {
  height: 150px; width: 100%; object-fit: contain; background: rgba(128,128,128,0.08);
}
[class*="st-key-"][class*="_grid"] [data-testid="stVerticalBlockBorderWrapper"] [data-testid="stVerticalBlock"],
[class*="st-key-"][class*="_grid"] [data-testid="stColumn"] [data-testid="stVerticalBlock"] { gap: 0.3rem; }
.tile-name, .tile-folder { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; line-height: 1.3; }
.tile-name { font-weight: 600; font-size: 0.9rem; }
.tile-folder { opacity: 0.65; font-size: 0.78rem; }
.tag-chips { display: flex; flex-wrap: wrap; gap: 0.3rem; }
.tag-chip { background: rgba(28,131,225,0.12); color: rgb(0,84,163); border-radius: 0.5rem; padding: 0 0.5rem;
  font-size: 0.85rem; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  [class*="st-key-"][class*="_grid"] [data-testid="stHorizontalBlock"] {
    flex-direction: row !important; flex-wrap: wrap !important; gap: 0.5rem !important;
  }
  [class*="st-key-"][class*="_grid"] [data-testid="stColumn"] {
    width: calc(50% - 0.25rem) !important; flex: 0 0 calc(50% - 0.25rem) !important; min-width: 0 !important;
  }
  [class*="st-key-"][class*="_grid"] [data-testid="stImage"] img { height: 120px; }
}
</style>
"""


def apply() -> None:
    st.html(CSS)
