"""Hide credentials written inside URIs (`s3://KEY:SECRET@bucket/...`, `http://user:pass@host/...`).

One function, used wherever a uri is shown or stored: error messages (`store.errors.one_line`),
the index report and its error file, stored rows, `stats`. The password and the user name both go
(an access key id is half a credential), so `http://user:pass@host/x` becomes `http://***@host/x`.
"""

from __future__ import annotations

import re

# scheme://userinfo@ where userinfo has no '/', '@' or whitespace: RFC 3986's authority part.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s?#'\"]+@")


def redact_uri(text: str) -> str:
    """`text` with the userinfo of every URI in it replaced by `***`; other text is unchanged."""
    if not text or "@" not in text:
        return text
    return _USERINFO.sub(r"\1***@", text)
