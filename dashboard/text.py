"""User text (descriptions, tags, file names, uris) shown as text, never as Markdown or HTML.

Streamlit renders labels, captions and st.markdown as Markdown: a description holding
`![x](http://host/pixel.png)` would make every viewer's browser fetch that address, and a tag holding
`[link](...)` would escape its badge. Everything a person or a file name supplied goes through here.
"""

from __future__ import annotations

import html
import re

# Every character Markdown, GitHub extensions, LaTeX ($) or Streamlit's directives (':' and '[') give a
# meaning; CommonMark lets a backslash escape any ASCII punctuation. Quotes and '=' mean nothing inline.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:^&])")


def md(text: object) -> str:
    """`text` escaped for any Markdown context (labels, captions, st.markdown), shown literally."""
    return _PUNCTUATION.sub(r"\\\1", "" if text is None else str(text)).replace("\n", "  \n")


def esc(text: object) -> str:
    """`text` escaped for HTML."""
    return html.escape("" if text is None else str(text), quote=True)


def tag_chips(tags) -> str:
    """Tags as HTML chips, each escaped: a tag can never turn into a link or leave its chip."""
    chips = "".join(f'<span class="tag-chip">{esc(t)}</span>' for t in tags or [])
    return f'<div class="tag-chips">{chips}</div>'
