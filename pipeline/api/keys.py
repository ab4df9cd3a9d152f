"""API keys and their scopes: `read` (search, fetch, stats, SQL) or `write` (also upload, delete, restore).

Keys come from IMAGESEARCH_API_KEYS ("KEY:SCOPE,KEY:SCOPE") and/or a file named by
IMAGESEARCH_API_KEYS_FILE with one `KEY SCOPE [name]` per line (# starts a comment). A request
sends its key as `Authorization: Bearer KEY` or `X-API-Key: KEY`. Keys are compared in constant
time; only a short digest of the key, never the key, names it in logs and rate-limit buckets.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pipeline.errors import BadInputError

SCOPES = ("read", "write")


class KeyFileError(BadInputError):
    """A keys file or variable that cannot be used: one line saying where."""


@dataclass(frozen=True)
class ApiKey:
    key: str
    scope: str
    name: str

    def allows(self, scope: str) -> bool:
        return self.scope == "write" or scope == "read"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _entry(key: str, scope: str, name: str, where: str) -> ApiKey:
    if scope not in SCOPES:
        raise KeyFileError(f"{where}: scope must be read or write, got {scope!r}")
    if len(key) < 8:
        raise KeyFileError(f"{where}: an API key needs at least 8 characters")
    return ApiKey(key, scope, name or key_digest(key))


def parse_keys(inline: str = "", file_text: str | None = None, file_name: str = "keys file") -> list[ApiKey]:
    keys = []
    for i, item in enumerate(part.strip() for part in inline.split(",") if part.strip()):
        key, _, scope = item.rpartition(":")
        if not key:
            raise KeyFileError(f"IMAGESEARCH_API_KEYS entry {i + 1}: write KEY:SCOPE")
        keys.append(_entry(key, scope, "", f"IMAGESEARCH_API_KEYS entry {i + 1}"))
    for number, line in enumerate((file_text or "").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise KeyFileError(f"{file_name} line {number}: write KEY SCOPE [name]")
        keys.append(_entry(fields[0], fields[1], " ".join(fields[2:]), f"{file_name} line {number}"))
    return keys


def load_keys(inline: str, keys_file: str | None) -> list[ApiKey]:
    text = None
    if keys_file:
        try:
            with open(keys_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise KeyFileError(f"cannot read the keys file {keys_file}: {error.strerror or error}") from None
    return parse_keys(inline, text, keys_file or "keys file")


class KeyRing:
    """The configured keys; empty means open access (and a server bound to loopback only)."""

    def __init__(self, keys: list[ApiKey]):
        self.keys = keys

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def find(self, presented: str | None) -> ApiKey | None:
        if not presented:
            return None
        found = None
        for entry in self.keys:  # no early exit: the time taken says nothing about which key matched
            if hmac.compare_digest(entry.key.encode(), presented.encode()):
                found = entry
        return found


def presented_key(headers) -> str | None:
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return (headers.get("x-api-key") or "").strip() or None
